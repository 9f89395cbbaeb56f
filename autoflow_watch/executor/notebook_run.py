"""Execute one notebook with papermill inside a worker, in a kernel the worker started for it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm

from autoflow_watch.executor.job import NotebookJob, RunJob, kernel_log_tail
from autoflow_watch.executor.sandbox_errors import sandbox_hint
from autoflow_watch.secrets import redact_text

# A long cell's output is saved this often: a run killed mid-cell still shows what it printed.
AUTOSAVE_EVERY_S = 10


@dataclass
class NotebookFailure(Exception):
    """A notebook that did not complete: what went wrong and where, for error.txt and status."""

    error_type: str
    message: str
    cell_index: int | None
    code_ran: bool  # whether any code cell began: only a failure before that may be retried
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"


def execute(job: RunJob, notebook: NotebookJob, parameters: dict[str, Any], output: Path, kernel_manager: Any) -> float:
    """Run ``notebook`` to ``output`` in the (started) kernel of ``kernel_manager``; seconds taken, or NotebookFailure.

    The kernel was started in the notebook's folder, so papermill's ``cwd=`` (an
    ``os.chdir`` of the whole worker) is not needed.
    """
    started = time.monotonic()
    try:
        pm.execute_notebook(
            notebook.path,
            str(output),
            parameters=parameters,
            kernel_name=job.kernel,
            progress_bar=False,
            log_output=False,
            start_timeout=int(job.kernel_start_timeout_s),
            execution_timeout=max(1, int(job.cell_timeout_s)),
            request_save_on_cell_execute=True,
            autosave_cell_every=AUTOSAVE_EVERY_S,
            km=kernel_manager,
        )
    except Exception as error:
        failure = _too_large(job, notebook, output) or _failure(error, output)
        hint = sandbox_hint(job, failure.error_type, failure.message, failure.traceback)
        if hint:
            failure.message = f"{failure.message} ({hint})"
            failure.traceback = f"{hint}\n\n{failure.traceback}"
        failure.traceback += redact_text(kernel_log_tail(job.work_dir, notebook.name))
        raise failure from None
    too_large = _too_large(job, notebook, output)
    if too_large is not None:
        raise too_large
    return time.monotonic() - started


def _too_large(job: RunJob, notebook: NotebookJob, output: Path) -> NotebookFailure | None:
    """An executed notebook over ``max_notebook_bytes`` is not read, rendered or shipped: it fails the run
    (and is removed, so that nothing downstream reads it)."""
    try:
        size = output.stat().st_size
    except OSError:
        return None
    if size <= job.max_notebook_bytes:
        return None
    output.unlink(missing_ok=True)
    message = (
        f"executed notebook {notebook.name} is {size} bytes, over [execution] max_notebook_bytes "
        f"({job.max_notebook_bytes}); display less output, or raise the limit"
    )
    return NotebookFailure("NotebookTooLarge", message, None, True, message)


def _failure(error: Exception, output: Path) -> NotebookFailure:
    error_type = type(error).__name__
    message = str(error).strip()
    ename = getattr(error, "ename", None)
    if ename:  # PapermillExecutionError: report the notebook's own exception
        error_type = redact_text(str(ename))
        message = str(getattr(error, "evalue", message))
    traceback = "\n".join(getattr(error, "traceback", []) or [])
    if error_type in ("CellTimeoutError", "TimeoutError") and "cell" in message.lower():
        error_type = "CellTimeoutError"
    cell_index, code_ran = _progress(output)
    # redacted here, where the text is made: it goes to the store, status, the index and notifications
    message, traceback = redact_text(message), redact_text(traceback)
    first_line = message.splitlines()[0] if message else error_type
    return NotebookFailure(error_type, first_line[:2000], cell_index, code_ran, traceback or message)


def _progress(output: Path) -> tuple[int | None, bool]:
    """Where execution stopped, from papermill's cell metadata: (failing cell index, any code ran).

    The failing cell is the one papermill marked failed or left running; a kernel that died
    mid-cell leaves that cell marked completed, so then it is the last cell that started.
    Indexes do not count papermill's error banner.
    """
    try:
        nb = nbformat.read(str(output), as_version=4)
    except Exception:
        return None, False
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    last_started = None
    code_ran = False
    for index, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("papermill", {})
        if meta.get("exception") or meta.get("status") in ("failed", "running"):
            return index, True
        if meta.get("start_time"):
            last_started = index
            code_ran = code_ran or cell.get("cell_type") == "code"
    return (last_started if code_ran else None), code_ran
