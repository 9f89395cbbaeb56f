"""What happens when an attempt ends: a fenced publish of its report, or the failure filed for debugging.

A success is recorded only while the attempt's claim is current, and its report swapped in
only after that (:mod:`autoflow_watch.daemon.publishing`): a daemon that lost its run
publishes nothing.
"""

from __future__ import annotations

import re
import traceback
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from autoflow_watch import __version__
from autoflow_watch.daemon.portal_hooks import failure_page_file, record_scraps
from autoflow_watch.daemon.publishing import Published, publish_success
from autoflow_watch.daemon.reuse import record_executions
from autoflow_watch.executor.base import Execution
from autoflow_watch.executor.job import RunJob, kernel_log_tail
from autoflow_watch.executor.params import run_parameters
from autoflow_watch.logs import get_logger, redact
from autoflow_watch.publish.outbox import publish_failure
from autoflow_watch.store import Store
from autoflow_watch.vocabulary import AttemptOutcome, AttemptResult, RunState, iso

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def build_manifest(execution: Execution) -> dict[str, Any]:
    """The manifest's run keys; publishing adds ``schema_version`` and ``outputs``."""
    job, result = execution.job, execution.result
    assert result is not None
    return {
        "workflow": job.workflow,
        "reference_date": job.reference_date,
        "run_id": job.run_id,
        "attempt": job.attempt,
        "started_at": iso(job.started_at),
        "finished_at": iso(execution.finished_at),
        "parameters": run_parameters(job),
        "notebooks": [
            {
                "name": nb.name,
                "source_sha256": nb.source_sha256,
                "duration_s": nb.duration_s,
                "reused_from": nb.reused_from,
            }
            for nb in result.notebooks
        ],
        "autoflow_watch_version": __version__,
    }


def conclude(store: Store, outbox: Path, execution: Execution, retry_backoff: timedelta, owner: str) -> RunState | None:
    """Publish what the attempt produced and move the run to its next state; None when the run was lost.

    A store error propagates with the report left staged: the caller concludes again later.
    """
    job = execution.job
    log = get_logger("autoflow_watch.run", workflow=job.workflow, reference_date=job.reference_date, run_id=job.run_id)
    attempt = execution.attempt
    if attempt.outcome is AttemptOutcome.SUCCEEDED:
        try:
            published, state = publish_success(
                store, outbox, execution, owner, build_manifest(execution), retry_backoff
            )
        except SQLAlchemyError:
            raise
        except Exception as error:
            attempt = AttemptResult(AttemptOutcome.FAILED, "PublishError", f"publishing to the outbox failed: {error}")
            log.error("run.publish_failed", error=str(error))
        else:
            if published is Published.LOST or state is None:
                return None
            record_executions(store, execution, log, best_effort=True)  # the report is out: only reuse is at stake
            record_scraps(store, execution, log)
            log.info("run.finished", state=state.value, attempt=job.attempt, outcome=attempt.outcome, error=None)
            return state
    if attempt.outcome is AttemptOutcome.FAILED:
        _file_failure(outbox, execution, attempt, log)
    record_executions(store, execution, log)  # before the run may be claimed again; a store error: concluded later
    state = store.runs.finish(execution.claim, attempt, retry_backoff)
    level = log.info if state is RunState.SUCCEEDED else log.warning
    level(
        "run.finished",
        state=state.value,
        attempt=job.attempt,
        outcome=attempt.outcome,
        error_type=attempt.error_type,
        error=attempt.error,
    )
    return state


def _file_failure(outbox: Path, execution: Execution, attempt: AttemptResult, log: Any) -> None:
    """Best effort: the executed notebook, its HTML and error.txt under outbox/_failed/."""
    job = execution.job
    work = Path(job.work_dir)
    files = [Path(p) for p in execution.result.failed_files] if execution.result else []
    if not files and attempt.failing_notebook and (work / f"{attempt.failing_notebook}.ipynb").exists():
        files = _stopped_notebook(job, work / f"{attempt.failing_notebook}.ipynb", attempt, log)
    details = execution.result.traceback if execution.result and execution.result.traceback else ""
    if execution.result is None and attempt.failing_notebook:  # killed: the worker could not add the kernel's words
        details += kernel_log_tail(job.work_dir, attempt.failing_notebook)
    text = redact(
        f"workflow: {job.workflow}\nreference_date: {job.reference_date}\nrun_id: {job.run_id}\n"
        f"attempt: {job.attempt}\nnotebook: {attempt.failing_notebook or '-'}\n"
        f"cell: {attempt.failing_cell if attempt.failing_cell is not None else '-'}\n"
        f"error: {attempt.error_type}: {attempt.error}\n\n{_strip_ansi(details)}\n"
    )
    try:
        files.append(failure_page_file(execution, attempt, details, files, text))
    except Exception as error:  # the files themselves still help
        log.warning("failure.page_not_written", error=str(error), details=traceback.format_exc(limit=2))
    try:
        publish_failure(outbox, job.workflow, job.reference_date, job.run_id, files, text)
    except Exception as error:
        log.error("run.failure_not_filed", error=str(error), details=traceback.format_exc(limit=2))


def _stopped_notebook(job: RunJob, notebook: Path, attempt: AttemptResult, log: Any) -> list[Path]:
    """A notebook killed from outside: its last save, marked where it stopped, and its HTML.

    The worker that would have rendered it is gone, so the daemon renders it here.
    """
    from autoflow_watch.render.failure import mark_stopped, render_failure

    try:
        folder = job.failure_dir()
        marked = mark_stopped(notebook, attempt.error or "killed", folder)
        return [marked, *render_failure(marked, notebook.stem, job.report_context("failed", None), folder)]
    except Exception as error:  # the notebook as it was saved still helps
        log.warning("failure.render_failed", error=str(error))
        return [notebook]


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)
