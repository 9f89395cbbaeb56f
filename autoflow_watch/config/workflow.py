"""Workflows as the rest of the daemon sees them: effective settings, notebooks in DAG order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from autoflow_watch.config.model import DatasetsMatch, ReportConfig
from autoflow_watch.config.stencil import Stencil


@dataclass(frozen=True)
class Notebook:
    """One notebook of a workflow, with the parameters its ``parameters`` cell declares."""

    name: str
    path: Path
    upstream: tuple[str, ...]
    declared: frozenset[str]
    report: ReportConfig | None
    source_sha256: str
    mapping: dict[str, str] | None = None  # parameter name -> source; None: gets what it declares


@dataclass(frozen=True)
class Workflow:
    """A validated workflow with ``[execution]`` defaults already applied."""

    name: str
    datasets: tuple[str, ...]
    stencil: Stencil
    earliest_date: dt.date | None
    parameters: dict[str, Any]
    notebooks: tuple[Notebook, ...]  # topological order: every upstream comes first
    kernel: str
    cell_timeout: timedelta
    run_timeout: timedelta
    max_attempts: int
    retry_backoff: timedelta
    flowapi_token: bool
    on_redelivery: str
    fingerprint: str = field(default="")
    reuse: bool = True  # a new attempt reuses unchanged successful notebooks (docs/reuse.md)
    datasets_match: DatasetsMatch = DatasetsMatch.ALL
    read_paths: tuple[Path, ...] = ()  # sandbox: more its kernels may read
    write_paths: tuple[Path, ...] = ()  # sandbox: more its kernels may write
    connect_ports: tuple[int, ...] = ()  # sandbox: TCP ports its kernels may connect to

    def notebook(self, name: str) -> Notebook:
        for notebook in self.notebooks:
            if notebook.name == name:
                return notebook
        raise KeyError(name)
