"""Fixtures for FlowAPI tests: the fake server, configs pointing at it, and captured output.

``captured`` gathers everything the code under test could leak a token into — structlog
events (before any redaction), stdlib log records (flowclient, httpx), Python warnings,
and the process's stdout/stderr — so a test can assert the token appears in none of them.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import structlog
from fake_flowapi import FakeFlowApi, fake_flowapi
from flowapi_helpers import Captured, ListHandler, LoadWorkflows, MakeConfig

from autoflow_watch.config import load_config
from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.config.workflow import Workflow

__all__ = ["fake_flowapi"]


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / "flowapi-token"


@pytest.fixture
def make_config(fake_flowapi: FakeFlowApi, token_file: Path) -> MakeConfig:
    """``make_config(token=..., timeout=..., poll_interval=...)``: a FlowApiConfig for the fake.

    Writes ``token`` (default: a fresh valid token) to the token file unless ``token=None``.
    """

    def make(token: str | None = "", **overrides: Any) -> FlowApiConfig:
        if token == "":
            token = fake_flowapi.make_token()
        if token is not None:
            token_file.write_text(token + "\n")
        values: dict[str, Any] = {
            "url": fake_flowapi.url,
            "token_file": token_file,
            "timeout": "2s",
            "poll_interval": "60s",
        }
        values.update(overrides)
        return FlowApiConfig(**values)

    return make


@pytest.fixture
def captured(capfd: pytest.CaptureFixture[str]) -> Iterator[Captured]:
    result = Captured(capfd=capfd)
    handler = ListHandler(result.records)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with structlog.testing.capture_logs() as events, warnings.catch_warnings(record=True) as warned:
            result.events = events
            result.warned = warned
            yield result
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture
def load_workflows(tmp_path: Path) -> LoadWorkflows:
    """``load_workflows(toml)``: Workflow objects from ``[[workflow]]`` tables, via the real loader.

    Each workflow may use ``notebook.ipynb``: a tiny notebook whose parameters cell declares
    ``reference_date`` and ``date_ranges``.
    """
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    cell = nbformat.v4.new_code_cell("reference_date = None\ndate_ranges = None")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("print(reference_date)")]
    nbformat.write(nb, str(notebooks / "notebook.ipynb"))

    def load(workflows_toml: str) -> dict[str, Workflow]:
        config = tmp_path / "autoflow-watch.toml"
        config.write_text(f'[paths]\nnotebooks = "notebooks"\nstate = "sqlite:///state.db"\n\n{workflows_toml}')
        return load_config(config).workflows

    return load
