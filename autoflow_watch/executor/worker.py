"""The per-run worker process: ``python -m autoflow_watch.executor.worker`` (job JSON on stdin).

Each run executes in its own process so that a crashing, hanging or memory-hungry
notebook can only take down its own run. Progress goes to the daemon as JSON lines on
the original stdout; everything else printed goes to stderr.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from autoflow_watch.executor import kernels
from autoflow_watch.executor.job import NotebookJob, NotebookOutcome, RunJob, WorkerResult
from autoflow_watch.executor.notebook_run import NotebookFailure, execute
from autoflow_watch.executor.params import notebook_parameters
from autoflow_watch.logs import bind_run, configure, get_logger

PARENT_PID_ENV = "AUTOFLOW_WATCH_PARENT_PID"


class Events:
    """JSON lines to the daemon on a private copy of stdout."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def emit(self, event: str, **fields: Any) -> None:
        self._stream.write(json.dumps({"event": event, **fields}) + "\n")
        self._stream.flush()


def _notebook_logger(notebook: NotebookJob) -> Any:
    """The worker's logger, with every line of this process (papermill's too) tagged with the notebook."""
    bind_run(notebook=notebook.name)
    return get_logger("autoflow_watch.worker")


def run_job(job: RunJob, events: Events) -> WorkerResult:
    bind_run(workflow=job.workflow, reference_date=job.reference_date, run_id=job.run_id, notebook=None)
    work = Path(job.work_dir)
    executed: dict[str, Path] = {}
    result = WorkerResult(outcome="succeeded")
    for notebook in job.notebooks:
        log = _notebook_logger(notebook)
        output = work / f"{notebook.name}.ipynb"
        parameters = notebook_parameters(job, notebook, executed)
        source_sha256 = _source_digest(notebook, log)
        events.emit("step", notebook=notebook.name, state="running")
        try:
            duration = _execute_with_start_retry(job, notebook, parameters, output, events, log)
        except NotebookFailure as failure:
            log.warning("notebook.failed", error=str(failure), cell=failure.cell_index)
            events.emit("step", notebook=notebook.name, state="failed", error=str(failure))
            result.outcome = "failed"
            result.error_type, result.error = failure.error_type, failure.message
            result.failing_notebook, result.failing_cell = notebook.name, failure.cell_index
            result.traceback = failure.traceback
            result.failed_files = _failure_files(job, notebook, output, log)
            return result
        executed[notebook.name] = output
        result.notebooks.append(NotebookOutcome(notebook.name, source_sha256, round(duration, 3), str(output)))
        events.emit("step", notebook=notebook.name, state="succeeded", duration_s=round(duration, 3))
        log.info("notebook.succeeded", duration_s=round(duration, 3))
    return _render_reports(job, result, events)


def _source_digest(notebook: NotebookJob, log: Any) -> str:
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


def _execute_with_start_retry(
    job: RunJob, notebook: NotebookJob, parameters: dict[str, Any], output: Path, events: Events, log: Any
) -> float:
    """A kernel that fails to start is retried once within the attempt; cell errors are not."""

    def on_kernel(pid: int) -> None:
        events.emit("kernel", notebook=notebook.name, pid=pid)

    try:
        return execute(job, notebook, parameters, output, on_kernel)
    except NotebookFailure as failure:
        if failure.code_ran or not _looks_like_start_failure(failure):
            raise  # a cell ran: running the notebook again could repeat its side effects
        log.warning("kernel.start_failed.retrying", error=str(failure))
        return execute(job, notebook, parameters, output, on_kernel)


def _looks_like_start_failure(failure: NotebookFailure) -> bool:
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


def _failure_files(job: RunJob, notebook: NotebookJob, output: Path, log: Any) -> list[str]:
    files = [str(output)] if output.exists() else []
    if not output.exists():
        return files
    try:
        from autoflow_watch.render.failure import render_failure

        files += [str(p) for p in render_failure(job, output, notebook.name)]
    except Exception as error:  # the notebook itself is what matters; its HTML is a courtesy
        log.warning("failure.render_failed", error=str(error))
    return files


def _render_reports(job: RunJob, result: WorkerResult, events: Events) -> WorkerResult:
    from autoflow_watch.render import render_report
    from autoflow_watch.render.context import ReportContext

    report_dir = Path(job.work_dir) / "report"
    report_dir.mkdir(exist_ok=True)
    finished = time.time()
    for notebook in job.notebooks:
        if not notebook.formats:
            continue
        log = _notebook_logger(notebook)
        context = ReportContext(
            job.workflow, job.reference_date, job.run_id, job.started_at, finished, "succeeded", job.paper_size
        )
        events.emit("render", notebook=notebook.name, formats=notebook.formats)
        try:
            paths = render_report(
                Path(job.work_dir) / f"{notebook.name}.ipynb",
                report_dir,
                notebook.name,
                notebook.formats,
                context,
                show_code=notebook.show_code,
                pdf_engine=notebook.pdf_engine,
            )
        except Exception as error:
            log.warning("report.render_failed", error=str(error))
            result.outcome = "failed"
            result.error_type, result.error = type(error).__name__, f"rendering {notebook.name}: {error}"
            result.failing_notebook = notebook.name
            result.traceback = traceback.format_exc()
            return result
        result.report_files += [str(p) for p in paths]
    return result


def main() -> int:
    events = Events(os.fdopen(os.dup(1), "w", encoding="utf-8"))
    os.dup2(2, 1)  # anything else printed (papermill, kernels' chatter) goes to stderr
    kernels.die_with_parent()
    expected_parent = os.environ.get(PARENT_PID_ENV)
    if expected_parent and os.getppid() != int(expected_parent):
        return 3  # the daemon died before we could tie our life to it
    configure(
        os.environ.get("AUTOFLOW_WATCH_LOG_LEVEL", "info"), json_lines=os.environ.get("AUTOFLOW_WATCH_LOG_JSON") == "1"
    )
    job = RunJob.from_json(sys.stdin.read())
    try:
        result = run_job(job, events)
    except Exception as error:  # a bug of ours: the run fails with the reason, the daemon lives on
        result = WorkerResult(
            outcome="failed", error_type=type(error).__name__, error=str(error), traceback=traceback.format_exc()
        )
    result_path = Path(job.work_dir) / "result.json"
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(result.to_json(), encoding="utf-8")
    os.replace(tmp, result_path)
    events.emit("done", outcome=result.outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
