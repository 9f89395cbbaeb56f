"""Which executor runs the notebooks: ``[execution] backend`` chooses it, once, at start."""

from __future__ import annotations

from collections.abc import Callable

from autoflow_watch.config import Config
from autoflow_watch.daemon.jobs import pool_settings
from autoflow_watch.executor.base import Executor, ExecutorSetup, OnDone, OnEvent
from autoflow_watch.extensions import EXECUTORS


def make_executor(
    config: Config, environment: Callable[[], dict[str, str]], on_event: OnEvent, on_done: OnDone
) -> Executor:
    """The executor ``[execution] backend`` names in the registry (imported only then: ``[dask]`` is an extra)."""
    factory = EXECUTORS[config.app.execution.backend].load()
    executor: Executor = factory(ExecutorSetup(config, pool_settings(config), environment, on_event, on_done))
    return executor


def executor_changed(old: Config, new: Config) -> bool:
    """Whether a reload changed what only a restart applies: the backend, or a key its entry names (Dask: scheduler)."""
    keys = ("backend", *EXECUTORS[old.app.execution.backend].restart_keys)
    return any(getattr(old.app.execution, key) != getattr(new.app.execution, key) for key in keys)
