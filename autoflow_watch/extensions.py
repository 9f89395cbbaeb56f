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


@dataclass(frozen=True)
class ExecutorEntry:
    """An executor ``backend`` may name: its factory, and whether its kernels run on this host."""

    name: str
    factory: str | Callable[..., Any]  # "module:function", or the function: (ExecutorSetup) -> Executor
    kernels_here: bool = True  # the config's kernels are checked at load (Dask's are checked on its workers)

    def load(self) -> Callable[..., Any]:
        return _resolve(self.factory)


EXECUTORS: dict[str, ExecutorEntry] = {}


def register_executor(name: str, factory: str | Callable[..., Any], *, kernels_here: bool = True) -> None:
    """Add (or replace) the executor ``backend = name`` chooses."""
    EXECUTORS[name] = ExecutorEntry(name, factory, kernels_here)


def unregister_executor(name: str) -> None:
    EXECUTORS.pop(name, None)


@dataclass(frozen=True)
class FormatEntry:
    """A report format ``report.formats`` may name: the function that writes its file."""

    name: str
    writer: str | Callable[..., Any]  # "module:function", or the function: (render.report.Report) -> Path

    def load(self) -> Callable[..., Any]:
        return _resolve(self.writer)


FORMATS: dict[str, FormatEntry] = {}


def register_format(name: str, writer: str | Callable[..., Any]) -> None:
    """Add (or replace) the format ``report = { formats = [name] }`` chooses; formats render in registry order."""
    FORMATS[name] = FormatEntry(name, writer)


def unregister_format(name: str) -> None:
    FORMATS.pop(name, None)


def _resolve(target: str | Callable[..., Any]) -> Callable[..., Any]:
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
register_executor("dask", "autoflow_watch.executor.dask.executor:build", kernels_here=False)

register_format("html", "autoflow_watch.render.formats:write_html")
register_format("pdf", "autoflow_watch.render.formats:write_pdf")
register_format("ipynb", "autoflow_watch.render.formats:write_ipynb")
