"""One attempt inside a worker: its notebooks in DAG order, each in a kernel of its own, then its reports.

Runs on the worker's main thread. The kernel for each notebook comes from the worker's
:class:`~autoflow_watch.executor.warm_kernels.WarmKernels`; the moment it is taken, the
kernel for the notebook after it is started, so that one boots while this one runs.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autoflow_watch.executor.events import KernelAssigned, Message, Rendering, StepChanged
from autoflow_watch.executor.job import (
    KernelProfile,
    NotebookJob,
    NotebookOutcome,
    RunJob,
    WorkerResult,
    kernel_log_path,
)
from autoflow_watch.executor.notebook_run import NotebookFailure, execute
from autoflow_watch.executor.params import notebook_parameters
from autoflow_watch.executor.run_view import collect_written, stage_upstream
from autoflow_watch.executor.warm_kernels import Kernel, WarmKernels
from autoflow_watch.logs import bind_run, get_logger
from autoflow_watch.store.records import AttemptOutcome, StepState

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

    def run(self, next_profiles: list[KernelProfile]) -> WorkerResult:
        """Execute every notebook, then render; ``next_profiles``: kernels to have ready afterwards."""
        job = self.job
        bind_run(workflow=job.workflow, reference_date=job.reference_date, run_id=job.run_id, notebook=None)
        work = Path(job.work_dir)
        work.mkdir(parents=True, exist_ok=True)
        executed: dict[str, Path] = {}
        self.executed = executed
        result = WorkerResult(outcome=AttemptOutcome.SUCCEEDED)
        profiles = job.kernel_profiles()
        for index, notebook in enumerate(job.notebooks):
            log = notebook_logger(notebook)
            output = work / f"{notebook.name}.ipynb"
            parameters = notebook_parameters(job, notebook, executed)
            source_sha256 = source_digest(notebook, log)
            self.emit(StepChanged(notebook.name, StepState.RUNNING))
            upcoming = [*profiles[index + 1 :], *next_profiles]
            try:
                duration = self._execute_with_start_retry(notebook, parameters, output, upcoming, log)
            except NotebookFailure as failure:
                log.warning("notebook.failed", error=str(failure), cell=failure.cell_index)
                self.emit(StepChanged(notebook.name, StepState.FAILED, error=str(failure)))
                self.lost_kernel = failure.error_type in LOST_KERNEL
                return failed_result(result, job, notebook, output, failure, log)
            executed[notebook.name] = output
            result.notebooks.append(NotebookOutcome(notebook.name, source_sha256, round(duration, 3), str(output)))
            self.emit(StepChanged(notebook.name, StepState.SUCCEEDED, duration_s=round(duration, 3)))
            log.info("notebook.succeeded", duration_s=round(duration, 3))
        return self._render_reports(result)

    # -- one notebook ---------------------------------------------------------------------------
    def _execute_with_start_retry(
        self, notebook: NotebookJob, parameters: dict[str, Any], output: Path, upcoming: list[KernelProfile], log: Any
    ) -> float:
        """A kernel that fails to start is retried once within the attempt; cell errors are not."""
        try:
            return self._execute_once(notebook, parameters, output, upcoming)
        except NotebookFailure as failure:
            if failure.code_ran or not looks_like_start_failure(failure):
                raise  # a cell ran: running the notebook again could repeat its side effects
            log.warning("kernel.start_failed.retrying", error=str(failure))
            return self._execute_once(notebook, parameters, output, upcoming)

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

    # -- reports ----------------------------------------------------------------------------------
    def _render_reports(self, result: WorkerResult) -> WorkerResult:
        return render_reports(self.job, result, self.emit)


def render_reports(job: RunJob, result: WorkerResult, emit: Emit) -> WorkerResult:
    """Render each report of ``job`` from its executed copy in the run folder (in the worker; for Dask, the daemon)."""
    from autoflow_watch.render.report import render_report

    report_dir = Path(job.work_dir) / "report"
    report_dir.mkdir(exist_ok=True)
    context = job.report_context("succeeded", time.time())
    for notebook in job.notebooks:
        if not notebook.formats:
            continue
        log = notebook_logger(notebook)
        emit(Rendering(notebook.name, list(notebook.formats)))
        try:
            paths = render_report(
                Path(job.work_dir) / f"{notebook.name}.ipynb",
                report_dir,
                notebook.name,
                notebook.formats,
                context,
                show_code=notebook.show_code,
                pdf_engine=notebook.pdf_engine,
                image_folder=Path(notebook.path).parent,  # the configured notebooks folder, not the notebook's word
            )
        except Exception as error:
            log.warning("report.render_failed", error=str(error))
            result.outcome = AttemptOutcome.FAILED
            result.error_type, result.error = type(error).__name__, f"rendering {notebook.name}: {error}"
            result.failing_notebook = notebook.name
            result.traceback = traceback.format_exc()
            return result
        result.report_files += [str(p) for p in paths]
    return result


def notebook_logger(notebook: NotebookJob) -> Any:
    """The worker's logger, with every line of this process (papermill's too) tagged with the notebook."""
    bind_run(notebook=notebook.name)
    return get_logger("autoflow_watch.worker")


def adopt_log(kernel: Kernel, target: Path) -> None:
    """Give the kernel's output file the notebook's name in the run folder (a hard link: it keeps writing)."""
    try:
        target.unlink(missing_ok=True)
        os.link(kernel.log_path, target)
    except OSError:  # another filesystem: a copy at the end would lose a killed run's last words; link or keep
        target.write_bytes(kernel.log_path.read_bytes() if kernel.log_path.exists() else b"")


def source_digest(notebook: NotebookJob, log: Any) -> str:
    """The sha256 of the notebook as executed now, for the manifest (it may have changed since the config load)."""
    try:
        digest = hashlib.sha256(Path(notebook.path).read_bytes()).hexdigest()
    except OSError:
        return notebook.source_sha256  # papermill will report the missing file itself
    if digest != notebook.source_sha256:
        log.warning(
            "notebook.changed_since_config_load",
            path=notebook.path,
            hint="its parameters were checked at load time; reload the config (SIGHUP) to check them again",
        )
    return digest


def looks_like_start_failure(failure: NotebookFailure) -> bool:
    text = f"{failure.error_type} {failure.message}".lower()
    return any(
        word in text
        for word in (
            "kernel didn't respond",
            "kernel died",
            "no such kernel",
            "timeout waiting for kernel",
            "kernel_info",
        )
    )


def failed_result(
    result: WorkerResult, job: RunJob, notebook: NotebookJob, output: Path, failure: NotebookFailure, log: Any
) -> WorkerResult:
    result.outcome = AttemptOutcome.FAILED
    result.error_type, result.error = failure.error_type, failure.message
    result.failing_notebook, result.failing_cell = notebook.name, failure.cell_index
    result.traceback = failure.traceback
    result.failed_files = _failure_files(job, notebook, output, log)
    return result


def _failure_files(job: RunJob, notebook: NotebookJob, output: Path, log: Any) -> list[str]:
    if not output.exists():
        return []
    files = [str(output)]
    try:
        from autoflow_watch.render.failure import render_failure

        context = job.report_context("failed", None)
        files += [str(p) for p in render_failure(output, notebook.name, context, job.failure_dir())]
    except Exception as error:  # the notebook itself is what matters; its HTML is a courtesy
        log.warning("failure.render_failed", error=str(error))
    return files
