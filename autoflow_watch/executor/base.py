"""What the daemon needs of an executor, whichever runs the notebooks (local processes, Dask).

The daemon claims a run, builds its :class:`~autoflow_watch.executor.job.RunJob` and
``submit``s it; the executor reports progress through ``on_event`` and, exactly once per
submitted attempt, an :class:`Execution` through ``on_done``. Both callbacks come from the
executor's own threads and must only record and wake the main loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from autoflow_watch.executor.events import RunEvent, StopReason
from autoflow_watch.executor.job import KernelProfile, RunJob, WorkerResult
from autoflow_watch.vocabulary import AttemptOutcome, AttemptResult, Claim

if TYPE_CHECKING:
    from autoflow_watch.config import Config


@dataclass
class Execution:
    """A finished attempt as the daemon receives it."""

    claim: Claim
    job: RunJob
    attempt: AttemptResult
    result: WorkerResult | None  # None when the attempt was cut short (nothing the worker made is trusted)
    kernel_pids: list[int]
    finished_at: float


@dataclass(frozen=True)
class PoolSettings:
    """How many workers, how many kernels each keeps ready, and when a worker is replaced."""

    workers: int
    warm_kernels: int = 1
    worker_max_runs: int = 100
    renders: bool = True  # some workflow publishes a report: workers import nbconvert and WeasyPrint at start
    fork: bool = True  # kernels are forked from a per-kernelspec template (kernel_start = "fork")
    preload: tuple[str, ...] = ()  # modules the templates import before forking


@dataclass(frozen=True)
class Hint:
    """The kernels an idle worker should keep ready, and the token for those that hold it."""

    profiles: list[KernelProfile]
    token: str | None = None


OnEvent = Callable[[RunJob, RunEvent], None]
OnDone = Callable[[Execution], None]


@dataclass(frozen=True)
class ExecutorSetup:
    """What an executor's factory (a :data:`~autoflow_watch.extensions.EXECUTORS` entry) is given."""

    config: Config
    settings: PoolSettings
    environment: Callable[[], dict[str, str]]  # the kernels' environment, read when a worker starts
    on_event: OnEvent
    on_done: OnDone


class Executor(Protocol):
    """The seam between the daemon and whatever executes notebooks."""

    def start(self, hint: Hint) -> None:
        """Get ready to run (start workers, connect); called early, so it overlaps the daemon's start-up."""

    def accepting(self) -> bool:
        """Whether a run may be submitted now (False while a Dask scheduler is unreachable: runs stay pending)."""

    def submit(self, claim: Claim, job: RunJob, token: str | None) -> None:
        """Run one attempt; ``token`` is handed to its kernels only when ``job.flowapi_token``."""

    def active(self) -> int:
        """Attempts submitted and not yet reported done."""

    def active_run_ids(self) -> list[str]:
        """The run ids of those attempts (their leases are renewed)."""

    def stop(self, run_id: str, reason: StopReason) -> None:
        """Cut one attempt short now: its time is up, or its lease was lost."""

    def reconfigure(self, settings: PoolSettings, hint: Hint) -> None:
        """Apply new settings (SIGHUP) without disturbing running attempts."""

    def shutdown(self, grace: float) -> None:
        """Let running attempts finish within ``grace`` seconds, cut the rest short as interrupted, stop."""


def cut_short(claim: Claim, job: RunJob, reason: StopReason | None, pids: list[int], now: float) -> Execution:
    """The Execution of an attempt that did not end by itself: why, in the attempt's words."""
    if reason is StopReason.INTERRUPTED:
        attempt = AttemptResult(AttemptOutcome.INTERRUPTED, "Interrupted", "stopped by SIGTERM before the run finished")
    elif reason is StopReason.RUN_TIMEOUT:
        message = f"run exceeded run_timeout of {job.run_timeout_s:g}s; kernels killed"
        attempt = AttemptResult(AttemptOutcome.FAILED, "RunTimeout", message, current_step(job))
    elif reason is StopReason.LEASE_LOST:
        message = "this daemon lost the run's lease; killed to avoid a duplicate"
        attempt = AttemptResult(AttemptOutcome.FAILED, "LeaseLost", message)
    else:
        message = "worker process died before finishing (killed, out of memory or crashed)"
        attempt = AttemptResult(AttemptOutcome.FAILED, "WorkerDied", message, current_step(job))
    return Execution(claim, job, attempt, None, pids, now)


def current_step(job: RunJob) -> str | None:
    """The notebook a killed run was in: the last one with an executed copy in its run folder."""
    from pathlib import Path

    work = Path(job.work_dir)
    last = None
    for notebook in job.notebooks:
        if (work / f"{notebook.name}.ipynb").exists():
            last = notebook.name
    return last
