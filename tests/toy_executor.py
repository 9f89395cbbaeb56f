"""A toy executor for the registry tests: each attempt runs at once, in the daemon's own process.

It runs a notebook's code cells with ``exec`` through the shared attempt driver, so a test can
add an executor (or a report format, rendered where the attempt runs) without a worker process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import nbformat

from autoflow_watch.executor.attempt import drive
from autoflow_watch.executor.base import Execution, ExecutorSetup, Hint, PoolSettings
from autoflow_watch.executor.events import StopReason
from autoflow_watch.executor.job import NotebookJob, RunJob, WorkerResult
from autoflow_watch.executor.notebook_run import NotebookFailure
from autoflow_watch.executor.params import notebook_parameters
from autoflow_watch.executor.reports import render_reports
from autoflow_watch.vocabulary import AttemptResult, Claim


class InProcessPlace:
    """Runs a notebook's code cells with exec() in this process, parameters injected after its parameters cell."""

    def __init__(self, job: RunJob) -> None:
        self.job = job
        self.executed: dict[str, Path] = {}

    def run_notebook(self, index: int, notebook: NotebookJob, output: Path) -> float:
        started = time.monotonic()
        nb = nbformat.read(notebook.path, as_version=4)
        parameters = notebook_parameters(self.job, notebook, self.executed)
        namespace: dict[str, Any] = {}
        for cell in nb.cells:
            if cell.cell_type == "code":
                exec(cell.source, namespace)
                if "parameters" in cell.metadata.get("tags", []):
                    namespace.update(parameters)
        nbformat.write(nb, str(output))
        self.executed[notebook.name] = output
        return time.monotonic() - started

    def reused(self, notebook: NotebookJob, output: Path) -> None:
        self.executed[notebook.name] = output

    def failed(self, failure: NotebookFailure) -> None:
        pass

    def render(self, result: WorkerResult) -> WorkerResult:
        return render_reports(self.job, result, lambda message: None)


class InProcessExecutor:
    """A toy backend: each attempt runs at once, in the daemon's own process."""

    def __init__(self, setup: ExecutorSetup) -> None:
        self._setup = setup

    def start(self, hint: Hint) -> None:
        pass

    def accepting(self) -> bool:
        return True

    def submit(self, claim: Claim, job: RunJob, token: str | None) -> None:
        result = drive(job, InProcessPlace(job), lambda event: self._setup.on_event(job, event))
        attempt = AttemptResult(
            result.outcome, result.error_type, result.error, result.failing_notebook, result.failing_cell
        )
        self._setup.on_done(Execution(claim, job, attempt, result, [], time.time()))

    def active(self) -> int:
        return 0

    def active_run_ids(self) -> list[str]:
        return []

    def stop(self, run_id: str, reason: StopReason) -> None:
        pass

    def reconfigure(self, settings: PoolSettings, hint: Hint) -> None:
        pass

    def shutdown(self, grace: float) -> None:
        pass
