"""An executor added through the registry alone: its attempts run, with no change to the daemon."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from notebooks import write_notebook
from project_files import FAST_EXECUTION_TOML, PATHS_TOML

from autoflow_watch.config import load_config
from autoflow_watch.daemon.loop import Daemon
from autoflow_watch.executor.attempt import drive
from autoflow_watch.executor.base import Execution, ExecutorSetup, Hint, PoolSettings
from autoflow_watch.executor.events import StopReason
from autoflow_watch.executor.job import NotebookJob, RunJob, WorkerResult
from autoflow_watch.executor.notebook_run import NotebookFailure
from autoflow_watch.executor.params import notebook_parameters
from autoflow_watch.executor.reports import render_reports
from autoflow_watch.extensions import register_executor, unregister_executor
from autoflow_watch.vocabulary import AttemptResult, Claim

pytestmark = pytest.mark.e2e


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


@pytest.fixture
def inprocess() -> Iterator[None]:
    register_executor("inprocess", InProcessExecutor)
    yield
    unregister_executor("inprocess")


def test_an_executor_registered_alone_runs_the_attempts(tmp_path: Path, inprocess: None) -> None:
    out = tmp_path / "written"
    out.mkdir()
    write_notebook(
        tmp_path / "notebooks" / "count.ipynb",
        'reference_date = ""\nfolder = ""',
        "from pathlib import Path\n(Path(folder) / f'{reference_date}.txt').write_text('ran here')",
    )
    execution = FAST_EXECUTION_TOML.replace("[execution]\n", '[execution]\nbackend = "inprocess"\n')
    (tmp_path / "autoflow.toml").write_text(
        f'{PATHS_TOML}\n{execution}\n[[workflow]]\nname = "daily"\ndatasets = ["calls"]\n'
        f'parameters = {{ folder = "{out}" }}\n\n  [[workflow.notebook]]\n  name = "count"\n  path = "count.ipynb"\n'
    )
    (tmp_path / "var" / "inbox").mkdir(parents=True)
    (tmp_path / "var" / "inbox" / "calls_2026-11-24.ready").touch()
    assert Daemon(load_config(tmp_path / "autoflow.toml"), once=True).run() == 0
    assert (out / "2026-11-24.txt").read_text() == "ran here"
    manifest = json.loads((tmp_path / "var" / "outbox" / "daily" / "2026-11-24" / "manifest.json").read_text())
    assert [nb["name"] for nb in manifest["notebooks"]] == ["count"]


def test_an_unknown_backend_is_refused_naming_the_registered_ones(tmp_path: Path, inprocess: None) -> None:
    execution = FAST_EXECUTION_TOML.replace("[execution]\n", '[execution]\nbackend = "k8s"\n')
    (tmp_path / "autoflow.toml").write_text(f"{PATHS_TOML}\n{execution}\n")
    with pytest.raises(Exception, match="Input should be 'local', 'dask' or 'inprocess'"):
        load_config(tmp_path / "autoflow.toml")
