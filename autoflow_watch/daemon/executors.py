"""Which executor runs the notebooks: ``[execution] backend`` chooses it, once, at start."""

from __future__ import annotations

from collections.abc import Callable

from autoflow_watch.config import Config
from autoflow_watch.daemon.jobs import pool_settings
from autoflow_watch.executor.base import Executor, OnDone, OnEvent


def make_executor(
    config: Config, environment: Callable[[], dict[str, str]], on_event: OnEvent, on_done: OnDone
) -> Executor:
    """The local pool, or a Dask client for ``backend = "dask"`` (imported only then: ``[dask]`` is an extra)."""
    execution = config.app.execution
    if execution.backend == "dask":
        from autoflow_watch.executor.dask_executor import DaskExecutor

        assert execution.dask_scheduler is not None  # the config refuses dask without it
        return DaskExecutor(pool_settings(config), execution.dask_scheduler, execution.dask_tls, on_event, on_done)
    from autoflow_watch.executor.local import LocalExecutor

    return LocalExecutor(pool_settings(config), config.app.paths.work, environment, on_event, on_done)


def executor_changed(old: Config, new: Config) -> bool:
    """Whether a reload changed what only a restart applies: the backend, the scheduler or its TLS files."""
    keys = ("backend", "dask_scheduler", "dask_tls")
    return any(getattr(old.app.execution, key) != getattr(new.app.execution, key) for key in keys)
