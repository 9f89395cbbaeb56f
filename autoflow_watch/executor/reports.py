"""Rendering an attempt's reports from the executed copies in its run folder (in the worker; for Dask, the daemon)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path

from autoflow_watch.executor.attempt import notebook_logger
from autoflow_watch.executor.events import Message, Rendering
from autoflow_watch.executor.job import RunJob, WorkerResult
from autoflow_watch.vocabulary import AttemptOutcome


def render_reports(job: RunJob, result: WorkerResult, emit: Callable[[Message], None]) -> WorkerResult:
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
