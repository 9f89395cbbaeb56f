"""Execute or reuse (docs/reuse.md), decided by the attempt driver; no kernel: the place below "executes"."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from project_files import write_config

from autoflow_watch.config import ConfigError, load_config
from autoflow_watch.executor.attempt import drive
from autoflow_watch.executor.job import NotebookJob, RunJob, WorkerResult
from autoflow_watch.executor.reuse import parameters_sha256
from autoflow_watch.vocabulary import KeptExecution, StepState


class Place:
    """Records which notebooks it was asked to run; each writes its executed copy and a file beside it."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.reused_at: dict[str, Path] = {}

    def run_notebook(self, index: int, notebook: NotebookJob, output: Path) -> float:
        self.ran.append(notebook.name)
        output.write_text(f"executed {notebook.name}")
        (output.parent / f"{notebook.name}.csv").write_text("rows,1\n")
        return 0.5

    def reused(self, notebook: NotebookJob, output: Path) -> None:
        self.reused_at[notebook.name] = output

    def failed(self, failure: object) -> None:
        raise AssertionError("no notebook fails here")

    def render(self, result: WorkerResult) -> WorkerResult:
        return result


def notebooks(folder: Path) -> list[NotebookJob]:
    jobs = []
    for name, upstream in (("extract", []), ("transform", ["extract"]), ("report", ["transform"])):
        path = folder / f"{name}.ipynb"
        if not path.exists():
            path.write_text(f"source of {name}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        jobs.append(NotebookJob(name, str(path), upstream, ["run_id", "scale", *upstream], digest))
    return jobs


def job(folder: Path, run_id: str, kept: list[KeptExecution], scale: int = 2) -> RunJob:
    return RunJob(
        "three", "2026-11-24", run_id, 1, 0.0, [["2026-11-24", "2026-11-25"]], {"scale": scale},
        notebooks(folder / "notebooks"), str(folder / "work" / run_id), "python3", 60, 300, 60, kept=kept,
    )  # fmt: skip


def kept_of(first: RunJob, result: WorkerResult, folder: Path) -> list[KeptExecution]:
    return [
        KeptExecution(nb.name, first.run_id, nb.reused_from or first.run_id, nb.source_sha256, nb.parameters_sha256,
                      nb.kernel, nb.started_at, nb.duration_s, str(folder), "here", tuple(nb.files))
        for nb in result.notebooks
    ]  # fmt: skip


def attempt(tmp_path: Path, run_id: str, kept: list[KeptExecution], scale: int = 2) -> tuple[RunJob, Place, list]:
    place, steps = Place(), []
    the_job = job(tmp_path, run_id, kept, scale)
    result = drive(the_job, place, steps.append)
    return the_job, place, [result, steps]


@pytest.fixture
def first(tmp_path: Path):
    (tmp_path / "notebooks").mkdir()
    the_job, place, (result, _) = attempt(tmp_path, "a1", [])
    assert place.ran == ["extract", "transform", "report"]
    assert result.notebooks[1].files == ["transform.csv"], "what a notebook wrote in the run folder is known"
    return kept_of(the_job, result, Path(the_job.work_dir))


def test_unchanged_notebooks_are_copied_not_executed_and_the_step_says_reused(tmp_path, first):
    the_job, place, (result, steps) = attempt(tmp_path, "a2", first)
    assert place.ran == []
    assert [(s.notebook, s.state) for s in steps] == [(n, StepState.REUSED) for n in ("extract", "transform", "report")]
    copied = Path(the_job.work_dir) / "transform.csv"
    assert copied.read_text() == "rows,1\n" and copied.stat().st_nlink == 1, "a copy, never a hard link"
    assert place.reused_at["report"] == Path(the_job.work_dir) / "report.ipynb"
    assert [nb.reused_from for nb in result.notebooks] == ["a1", "a1", "a1"]


def test_an_edited_notebook_runs_again_with_everything_downstream(tmp_path, first):
    (tmp_path / "notebooks" / "transform.ipynb").write_text("edited")
    _, place, _ = attempt(tmp_path, "a2", first)
    assert place.ran == ["transform", "report"]


def test_a_changed_parameter_reruns_what_reads_it_but_not_run_id_or_upstream_paths(tmp_path, first):
    _, place, _ = attempt(tmp_path, "a2", first, scale=3)
    assert place.ran == ["extract", "transform", "report"], "every notebook here declares scale"
    a, b = job(tmp_path, "x1", []), job(tmp_path, "x2", [])
    assert parameters_sha256(a, a.notebooks[1]) == parameters_sha256(b, b.notebooks[1])


def test_another_kernel_runs_it_again(tmp_path, first):
    other = [KeptExecution(**{**k.__dict__, "kernel": "python2"}) if k.notebook == "extract" else k for k in first]
    _, place, _ = attempt(tmp_path, "a2", other)
    assert place.ran == ["extract", "transform", "report"]


def test_a_kept_copy_that_is_gone_is_executed_instead(tmp_path, first):
    (Path(first[0].folder) / "transform.csv").unlink()
    _, place, _ = attempt(tmp_path, "a2", first)
    assert place.ran == ["transform", "report"]
    assert (tmp_path / "work" / "a2" / "transform.ipynb").read_text() == "executed transform"


def test_reuse_is_a_workflow_setting_and_a_boolean(project):
    assert load_config(project / "autoflow.toml").workflows["daily"].reuse is True
    write_config(project, workflow_extra="reuse = false")
    assert load_config(project / "autoflow.toml").workflows["daily"].reuse is False
    write_config(project, workflow_extra='reuse = "no"')
    with pytest.raises(ConfigError) as caught:
        load_config(project / "autoflow.toml")
    assert "workflow[0].reuse" in caught.value.problems[0]
