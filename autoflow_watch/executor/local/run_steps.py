"""Where a local worker runs an attempt's notebooks: each in a kernel of its own, in this process.

The attempt itself (DAG order, steps, failures, reports) is :func:`~autoflow_watch.executor.attempt.drive`'s;
this module is the local backend's :class:`~autoflow_watch.executor.attempt.NotebookPlace`. Runs on
the worker's main thread. The kernel for each notebook comes from the worker's
:class:`~autoflow_watch.executor.warm_kernels.WarmKernels`; the moment it is taken, the
kernel for the notebook after it is started, so that one boots while this one runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from autoflow_watch.executor.attempt import drive
from autoflow_watch.executor.events import KernelAssigned, Message
from autoflow_watch.executor.job import KernelProfile, NotebookJob, RunJob, WorkerResult, kernel_log_path
from autoflow_watch.executor.kernel_start import adopt_log, with_start_retry
from autoflow_watch.executor.notebook_run import NotebookFailure, execute
from autoflow_watch.executor.params import notebook_parameters
from autoflow_watch.executor.reports import render_reports
from autoflow_watch.executor.run_view import collect_written, stage_upstream
from autoflow_watch.executor.warm_kernels import WarmKernels
from autoflow_watch.logs import bind_run, get_logger

Emit = Callable[[Message], None]
# failures after which the kernel's worker is not trusted with another run
LOST_KERNEL = ("CellTimeoutError", "DeadKernelError", "TimeoutError")


class AttemptRunner:
    """Runs one attempt's notebooks and renders its reports, reporting each step as it goes."""

    def __init__(self, job: RunJob, token: str | None, kernels: WarmKernels, emit: Emit) -> None:
        self.job = job
        self.token = token if job.flowapi_token else None
        self.kernels = kernels
        self.emit = emit
        self.lost_kernel = False  # a cell timed out or the kernel died: the worker should be replaced
        self.executed: dict[str, Path] = {}
        self._profiles: list[KernelProfile] = []
        self._next_profiles: list[KernelProfile] = []

    def run(self, next_profiles: list[KernelProfile]) -> WorkerResult:
        """Execute every notebook, then render; ``next_profiles``: kernels to have ready afterwards."""
        job = self.job
        bind_run(workflow=job.workflow, reference_date=job.reference_date, run_id=job.run_id, notebook=None)
        self.executed = {}
        self._profiles = job.kernel_profiles()
        self._next_profiles = next_profiles
        return drive(job, self, self.emit)

    # -- the driver's questions (:class:`~autoflow_watch.executor.attempt.NotebookPlace`) ---------------
    def run_notebook(self, index: int, notebook: NotebookJob, output: Path) -> float:
        parameters = notebook_parameters(self.job, notebook, self.executed)
        upcoming = [*self._profiles[index + 1 :], *self._next_profiles]
        log = get_logger("autoflow_watch.worker")
        duration = with_start_retry(lambda: self._execute_once(notebook, parameters, output, upcoming), log)
        self.executed[notebook.name] = output
        return duration

    def reused(self, notebook: NotebookJob, output: Path) -> None:
        self.executed[notebook.name] = output

    def failed(self, failure: NotebookFailure) -> None:
        self.lost_kernel = failure.error_type in LOST_KERNEL

    def render(self, result: WorkerResult) -> WorkerResult:
        return render_reports(self.job, result, self.emit)

    # -- one notebook ---------------------------------------------------------------------------
    def _execute_once(
        self, notebook: NotebookJob, parameters: dict[str, Any], output: Path, upcoming: list[KernelProfile]
    ) -> float:
        kernel, warm = self.kernels.take(self.job.kernel_profile(notebook), self.token)
        adopt_log(kernel, kernel_log_path(self.job.work_dir, notebook.name))
        self.emit(KernelAssigned(notebook.name, kernel.pid, warm))
        get_logger("autoflow_watch.worker").info("notebook.kernel", pid=kernel.pid, warm=warm, forked=kernel.forked)
        # the next kernel boots while this notebook runs; started from the event loop papermill
        # spins, once this notebook's first cells are under way (a fork is not free)
        self.kernels.fill_soon(upcoming, self.token)
        failed = True
        view = kernel.private.run if kernel.private is not None else None
        if view is not None:  # a sealed kernel sees its run folder as run/ of its private folder
            parameters = stage_upstream(parameters, list(self.executed.values()), view)
        try:
            duration = execute(self.job, notebook, parameters, output, kernel.manager)
            failed = False
            return duration
        finally:
            if view is not None:
                collect_written(view, Path(self.job.work_dir), parameters)
            self.kernels.discard(kernel, now=failed)
