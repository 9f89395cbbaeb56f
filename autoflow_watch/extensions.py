"""The names a configuration may choose for a seam, and where each is implemented.

``[execution] backend`` names an executor from :data:`EXECUTORS`; a notebook's
``report.formats`` name formats from :data:`FORMATS`. The config validates the names against
these registries (so an unknown one is the one-line error it always was), the daemon builds the
executor from its entry and the renderer writes each format with its entry's writer. An entry
points at its code as ``"module:function"`` (imported only when chosen: Dask is an optional
extra) or is the function itself. This module imports nothing of the package: the config,
below the executors and the renderer, can read it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Target = str | Callable[..., Any]  # "module:function", or the function itself


@dataclass(frozen=True)
class ExecutorEntry:
    """An executor ``backend`` may name: its factory, and the hooks that check and reload its settings."""

    name: str
    factory: Target  # (ExecutorSetup) -> Executor
    kernels_here: bool = True  # the config's kernels are checked at load (Dask's are checked on its workers)
    # (source: Path, execution: ExecutionConfig) -> problem lines; called at load for EVERY registered
    # backend, chosen or not, so that a backend's own keys can be refused when another one is chosen
    settings_check: Target | None = None
    # (Config) -> problem lines: what ``autoflow-watch validate`` asks beyond the file (e.g. a cluster answers)
    live_check: Target | None = None
    restart_keys: tuple[str, ...] = ()  # [execution] keys a reload cannot apply to a running executor

    def load(self) -> Callable[..., Any]:
        return _resolve(self.factory)


EXECUTORS: dict[str, ExecutorEntry] = {}


def register_executor(
    name: str,
    factory: Target,
    *,
    kernels_here: bool = True,
    settings_check: Target | None = None,
    live_check: Target | None = None,
    restart_keys: tuple[str, ...] = (),
) -> None:
    """Add (or replace) the executor ``backend = name`` chooses."""
    EXECUTORS[name] = ExecutorEntry(name, factory, kernels_here, settings_check, live_check, restart_keys)


def hook(target: Target | None) -> Callable[..., Any] | None:
    """An entry's optional hook as a function (imported now), or None when the entry has none."""
    return None if target is None else _resolve(target)


def unregister_executor(name: str) -> None:
    EXECUTORS.pop(name, None)


@dataclass(frozen=True)
class FormatEntry:
    """A report format ``report.formats`` may name: the function that writes its file."""

    name: str
    writer: Target  # (render.report.Report) -> Path
    attach_rank: int | None = None  # a success message attaches the lowest-ranked report file (None: never)

    def load(self) -> Callable[..., Any]:
        return _resolve(self.writer)


FORMATS: dict[str, FormatEntry] = {}


def register_format(name: str, writer: Target, *, attach_rank: int | None = None) -> None:
    """Add (or replace) the format ``report = { formats = [name] }`` chooses; formats render in registry order."""
    FORMATS[name] = FormatEntry(name, writer, attach_rank)


def unregister_format(name: str) -> None:
    FORMATS.pop(name, None)


def _resolve(target: Target) -> Callable[..., Any]:
    """The function an entry names: itself, or ``"module:function"`` imported now."""
    if callable(target):
        return target
    module, _, name = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def one_of(names: list[str]) -> str:
    """``'a', 'b' or 'c'``: how a choice is said in an error."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


register_executor("local", "autoflow_watch.executor.local.executor:build")
register_executor(
    "dask",
    "autoflow_watch.executor.dask.executor:build",
    kernels_here=False,
    settings_check="autoflow_watch.config.dask:dask_problems",
    live_check="autoflow_watch.executor.dask.check:cluster_problems",
    restart_keys=("dask_scheduler", "dask_tls"),
)

register_format("html", "autoflow_watch.render.formats:write_html", attach_rank=1)
register_format("pdf", "autoflow_watch.render.formats:write_pdf", attach_rank=0)
register_format("ipynb", "autoflow_watch.render.formats:write_ipynb")
