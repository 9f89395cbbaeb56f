"""The names a configuration may choose for a seam, and where each is implemented.

``[execution] backend`` names an executor from :data:`EXECUTORS`. The config validates the
name against this registry (so an unknown one is the one-line error it always was) and the
daemon builds the executor from it. An entry points at its factory as ``"module:function"``
(imported only when chosen: Dask is an optional extra) or is the factory itself. This module
imports nothing of the package: the config, below the executors, can read it.
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
        if callable(self.factory):
            return self.factory
        module, _, name = self.factory.partition(":")
        factory: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return factory


EXECUTORS: dict[str, ExecutorEntry] = {}


def register_executor(name: str, factory: str | Callable[..., Any], *, kernels_here: bool = True) -> None:
    """Add (or replace) the executor ``backend = name`` chooses."""
    EXECUTORS[name] = ExecutorEntry(name, factory, kernels_here)


def unregister_executor(name: str) -> None:
    EXECUTORS.pop(name, None)


def one_of(names: list[str]) -> str:
    """``'a', 'b' or 'c'``: how a choice is said in an error."""
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


register_executor("local", "autoflow_watch.executor.local.executor:build")
register_executor("dask", "autoflow_watch.executor.dask.executor:build", kernels_here=False)
