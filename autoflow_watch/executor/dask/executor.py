"""The Dask executor (``backend = "dask"``): the daemon is a Dask client, notebooks run on Dask workers.

The daemon keeps planning, claims and leases, rendering and publishing; each notebook of an
attempt is one task on the cluster (:mod:`autoflow_watch.executor.dask.attempt` drives an
attempt, :mod:`autoflow_watch.executor.dask.task` is what runs on a worker). There are no warm
kernels on the cluster: a worker starts a kernel when a notebook's task begins.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from autoflow_watch.executor.base import Execution, ExecutorSetup, Hint, OnDone, OnEvent, PoolSettings
from autoflow_watch.executor.dask.attempt import DaskAttempt
from autoflow_watch.executor.dask.link import SchedulerLink
from autoflow_watch.executor.events import StopReason
from autoflow_watch.executor.job import RunJob
from autoflow_watch.logs import get_logger
from autoflow_watch.vocabulary import Claim

log = get_logger("autoflow_watch.executor")


class DaskExecutor:
    """Runs attempts on a Dask cluster; accepts none while its scheduler is unreachable."""

    def __init__(self, settings: PoolSettings, address: str, tls: Any, on_event: OnEvent, on_done: OnDone) -> None:
        self._settings = settings
        self.link = SchedulerLink(address, tls)
        self._on_event, self._on_done = on_event, on_done
        self._attempts: dict[str, DaskAttempt] = {}
        self._lock = threading.Lock()

    def start(self, hint: Hint) -> None:
        self.link.start()  # connects in the background: the daemon's start-up does not wait for the cluster

    def accepting(self) -> bool:
        return self.link.client() is not None

    def submit(self, claim: Claim, job: RunJob, token: str | None) -> None:
        attempt = DaskAttempt(self.link.client, claim, job, token, self._on_event, self._finished)
        with self._lock:
            self._attempts[job.run_id] = attempt
        attempt.start()

    def active(self) -> int:
        with self._lock:
            return len(self._attempts)

    def active_run_ids(self) -> list[str]:
        with self._lock:
            return list(self._attempts)

    def stop(self, run_id: str, reason: StopReason) -> None:
        with self._lock:
            attempt = self._attempts.get(run_id)
        if attempt is not None:
            attempt.stop(reason)

    def reconfigure(self, settings: PoolSettings, hint: Hint) -> None:
        self._settings = settings  # max_parallel_runs is the daemon's to apply; the cluster has no pool here

    def shutdown(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while self.active() and time.monotonic() < deadline:
            time.sleep(0.1)
        with self._lock:
            attempts = list(self._attempts.values())
        for attempt in attempts:
            attempt.stop(StopReason.INTERRUPTED)  # cancels its task and kills its kernel on the worker
        for attempt in attempts:
            attempt.thread.join(timeout=30)
        self.link.close()

    def _finished(self, execution: Execution) -> None:
        """Hand the attempt's end to the daemon, then forget it (in that order: no gap in the leases)."""
        try:
            self._on_done(execution)
        finally:
            with self._lock:
                self._attempts.pop(execution.job.run_id, None)


def build(setup: ExecutorSetup) -> DaskExecutor:
    """``backend = "dask"``: a client of the configured scheduler."""
    execution = setup.config.app.execution
    assert execution.dask_scheduler is not None  # the config refuses dask without it
    return DaskExecutor(setup.settings, execution.dask_scheduler, execution.dask_tls, setup.on_event, setup.on_done)
