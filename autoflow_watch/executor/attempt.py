"""One attempt, driven once for every backend: each notebook in DAG order, then the reports.

A backend supplies only "run this notebook somewhere" (:class:`NotebookPlace`): the local
workers run it in a warm kernel of their own process, Dask ships it to the cluster. The
driver does the rest the same way for both: the notebook's digest for the manifest, the
step going RUNNING, the failure filed with its HTML, the step SUCCEEDED, and at the end the
reports, rendered wherever the place says (:meth:`NotebookPlace.render`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from autoflow_watch.executor.events import StepChanged
from autoflow_watch.executor.job import NotebookJob, NotebookOutcome, RunJob, WorkerResult
from autoflow_watch.executor.notebook_run import NotebookFailure
from autoflow_watch.executor.reuse import copy_kept, parameters_sha256, reusable, reused_outcome, run_files, written
from autoflow_watch.logs import bind_run, get_logger
from autoflow_watch.vocabulary import AttemptOutcome, StepState


class NotebookPlace(Protocol):
    """Where an attempt's notebooks run: a backend's whole part in :func:`drive`."""

    def run_notebook(self, index: int, notebook: NotebookJob, output: Path) -> float:
        """Execute ``notebook`` so that its executed copy is at ``output``; return its duration (s).

        Raise :class:`NotebookFailure` when the notebook failed (its copy at ``output`` if it
        got that far); any other exception ends the attempt and is the backend's to handle.
        """
        ...

    def reused(self, notebook: NotebookJob, output: Path) -> None:
        """``notebook`` was reused: its executed copy is at ``output`` for the notebooks after it."""
        ...

    def failed(self, failure: NotebookFailure) -> None:
        """A notebook failed: what the place makes of it (the local worker: is its kernel lost?)."""
        ...

    def render(self, result: WorkerResult) -> WorkerResult:
        """Every notebook succeeded: render the reports (:func:`~autoflow_watch.executor.reports.render_reports`)."""
        ...


def drive(job: RunJob, place: NotebookPlace, emit: Callable[[StepChanged], None]) -> WorkerResult:
    """Run ``job``'s notebooks at ``place`` one after the other, then its reports; the attempt's result."""
    try:
        return _drive(job, place, emit)
    finally:  # a failed notebook's name must not tag the lines of what this process does next
        bind_run(notebook=None)


def _drive(job: RunJob, place: NotebookPlace, emit: Callable[[StepChanged], None]) -> WorkerResult:
    work = Path(job.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    result = WorkerResult(outcome=AttemptOutcome.SUCCEEDED)
    reused: set[str] = set()
    for index, notebook in enumerate(job.notebooks):
        log = notebook_logger(notebook)
        output = work / f"{notebook.name}.ipynb"
        digest = source_digest(notebook, log)
        parameters = parameters_sha256(job, notebook)
        # execute or reuse: an unchanged earlier execution in this run is copied in (docs/reuse.md)
        if reuse(job, notebook, digest, parameters, reused, place, result, log):
            emit(StepChanged(notebook.name, StepState.REUSED))
            continue
        emit(StepChanged(notebook.name, StepState.RUNNING))
        started, before = time.time(), run_files(work)
        try:
            duration = round(place.run_notebook(index, notebook, output), 3)
        except NotebookFailure as failure:
            log.warning("notebook.failed", error=str(failure), cell=failure.cell_index)
            emit(StepChanged(notebook.name, StepState.FAILED, error=str(failure)))
            place.failed(failure)
            return failed_result(result, job, notebook, output, failure, log)
        files = written(work, before, notebook.name)
        result.notebooks.append(
            NotebookOutcome(notebook.name, digest, duration, str(output), parameters, job.kernel, started, None, files)
        )
        emit(StepChanged(notebook.name, StepState.SUCCEEDED, duration_s=duration))
        log.info("notebook.succeeded", duration_s=duration)
    bind_run(notebook=None)
    return place.render(result)


def reuse(
    job: RunJob,
    notebook: NotebookJob,
    digest: str,
    parameters: str,
    reused: set[str],
    place: NotebookPlace,
    result: WorkerResult,
    log: Any,
) -> bool:
    """Reuse ``notebook``'s kept execution if it still stands (copied into the run folder); whether it was."""
    kept, why = reusable(job, notebook, digest, parameters, reused)
    if kept is None:
        if why is not None:
            log.info("notebook.not_reused", why=why)
        return False
    output = Path(job.work_dir) / f"{notebook.name}.ipynb"
    seconds = copy_kept(kept, Path(job.work_dir), log)
    if seconds is None:
        return False
    reused.add(notebook.name)
    place.reused(notebook, output)
    result.notebooks.append(reused_outcome(kept, digest, output, seconds))
    log.info("notebook.reused", reused_from=kept.executed_by, copied_from=kept.run_id)
    return True


def notebook_logger(notebook: NotebookJob) -> Any:
    """The worker's logger, with every line of this process (papermill's too) tagged with the notebook."""
    bind_run(notebook=notebook.name)
    return get_logger("autoflow_watch.worker")


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
