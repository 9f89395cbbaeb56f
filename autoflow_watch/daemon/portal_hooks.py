"""What the outbox's pages need from an attempt as it ends: its scraps, and its failure page.

Both are best effort: a report is published, or a failure filed, whatever happens here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autoflow_watch.executor.base import Execution
from autoflow_watch.executor.job import kernel_log_path
from autoflow_watch.executor.params import run_parameters
from autoflow_watch.publish.failure_page import FailureFacts, write_failure_page
from autoflow_watch.publish.scraps import scalar_scraps
from autoflow_watch.store import Store
from autoflow_watch.vocabulary import AttemptResult


def record_scraps(store: Store, execution: Execution, log: Any) -> None:
    """Keep the scalar scraps of the report notebooks just published, for the history's figures."""
    job, result = execution.job, execution.result
    if result is None:
        return
    reports = {nb.name for nb in job.notebooks if nb.formats}
    values = {}
    for notebook in result.notebooks:
        if notebook.name in reports:
            found = scalar_scraps(Path(notebook.output_path))
            if found:
                values[notebook.name] = found
    try:
        store.runs.portal.record_scraps(job.workflow, job.reference_date, job.run_id, values)
    except Exception as error:  # the figures are a courtesy; the run's record must not wait on them
        log.warning("run.scraps_not_recorded", error=str(error))


def failure_page_file(
    execution: Execution, attempt: AttemptResult, traceback: str, files: list[Path], error_text: str
) -> Path:
    """``index.html`` of the failed attempt, written beside its other files to be filed with them."""
    job = execution.job
    notebook = attempt.failing_notebook
    executed = next((f for f in files if f.suffix == ".ipynb"), None)
    facts = FailureFacts(
        workflow=job.workflow,
        reference_date=job.reference_date,
        run_id=job.run_id,
        attempt=job.attempt,
        error_type=attempt.error_type,
        error=attempt.error,
        failing_notebook=notebook,
        failing_cell=attempt.failing_cell,
        traceback=traceback,
        parameters=run_parameters(job),
        cell_timeout_s=job.cell_timeout_s,
        run_timeout_s=job.run_timeout_s,
        notebook_file=executed,
        kernel_log=kernel_log_path(job.work_dir, notebook) if notebook else None,
        files=sorted({f.name for f in files} | {"error.txt"}),
        error_text=error_text,
    )
    return write_failure_page(job.failure_dir(), facts)
