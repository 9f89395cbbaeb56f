"""Which executions a run's next attempt may reuse, by the run-wide rules (docs/reuse.md), on both stores."""

from __future__ import annotations

import datetime as dt
import time
from datetime import timedelta
from pathlib import Path

import pytest
from reuse_project import DAY, reuse_project

from autoflow_watch.config import load_config
from autoflow_watch.daemon.reuse import kept_for
from autoflow_watch.store import Fact, Store
from autoflow_watch.store.executions import ExecutionRow
from autoflow_watch.vocabulary import ExecutionOutcome

DAY_ = dt.date.fromisoformat(DAY)


def claim(store: Store):
    store.runs.ensure("three", [DAY_], 3)
    taken = store.runs.claim_next("test", {"three": 3}, timedelta(seconds=60))
    assert taken is not None
    return taken


def executed(store: Store, folder: Path, run_id: str, pk: int, began: float, host_folder: Path | None = None) -> None:
    """Attempt ``run_id`` executed extract and transform (their copies in ``folder``), and failed in report."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("extract", "transform"):
        (folder / f"{name}.ipynb").write_text("{}")
    rows = [
        ExecutionRow(name, ExecutionOutcome.SUCCEEDED, run_id, "s" * 64, "p" * 64, "python3", began, 1.0)
        for name in ("extract", "transform")
    ]
    rows.append(ExecutionRow("report", ExecutionOutcome.FAILED, run_id))
    store.runs.executions.record(pk, run_id, str(host_folder or folder), rows)


@pytest.fixture
def setup(tmp_path, store: Store):
    config = load_config(reuse_project(tmp_path / "project"))
    store.facts.record(Fact("calls", DAY_, "inbox", None, "k1"), now=time.time() - 100)
    return config.workflows["three"], claim(store)


def test_the_last_successful_execution_per_notebook_is_kept(tmp_path, store, setup):
    workflow, first = setup
    executed(store, tmp_path / "a1", first.run_id, first.pk, time.time())
    kept = kept_for(store, workflow, first)
    assert sorted(k.notebook for k in kept) == ["extract", "transform"], "the failed report is not kept"
    assert {k.executed_by for k in kept} == {first.run_id}


def test_reuse_off_or_fresh_keeps_nothing(tmp_path, store, setup):
    workflow, first = setup
    executed(store, tmp_path / "a1", first.run_id, first.pk, time.time() - 10)
    assert kept_for(store, workflow.__class__(**{**workflow.__dict__, "reuse": False}), first) == []
    store.runs.requeue("three", [DAY_], fresh=True)
    assert kept_for(store, workflow, first) == []


def test_a_redelivered_fact_after_the_execution_began_keeps_nothing(tmp_path, store, setup):
    workflow, first = setup
    executed(store, tmp_path / "a1", first.run_id, first.pk, time.time() - 10)
    store.facts.record(Fact("calls", DAY_, "flowdb", None, "other-source"))  # a confirmation: still reused
    assert len(kept_for(store, workflow, first)) == 2
    store.facts.record(Fact("calls", DAY_, "inbox", {"rows": 2}, "k2"))  # redelivered: fresh data
    assert kept_for(store, workflow, first) == []


def test_a_copy_this_daemon_cannot_read_is_executed_again_and_said_once(tmp_path, store, setup, capsys):
    workflow, first = setup
    executed(store, tmp_path / "a1", first.run_id, first.pk, time.time(), host_folder=tmp_path / "elsewhere")
    assert kept_for(store, workflow, first) == []
    lines = [line for line in capsys.readouterr().out.splitlines() if "reuse.unreadable" in line]
    assert len(lines) == 1 and "elsewhere" in lines[0]


def test_an_attempts_folder_is_replaced_once_no_kept_execution_is_in_it(tmp_path, store, setup):
    _, first = setup
    executed(store, tmp_path / "a1", first.run_id, first.pk, time.time())
    rows = [
        ExecutionRow(n, ExecutionOutcome.SUCCEEDED, first.run_id, "s", "p", "python3", 1.0)
        for n in ("extract", "transform")
    ]
    store.runs.executions.record(first.pk, "a2", str(tmp_path / "a2"), rows)
    assert store.runs.executions.replaced(first.pk, _host()) == [str(tmp_path / "a1")]
    assert {k.folder for k in store.runs.executions.kept(first.pk)} == {str(tmp_path / "a2")}


def _host() -> str:
    import socket

    return socket.gethostname()


def test_retention_removing_the_runs_report_removes_its_kept_copies(tmp_path, store, setup):
    from autoflow_watch.daemon.outbox_index import forget_kept

    workflow, first = setup
    config = load_config(tmp_path / "project" / "autoflow.toml")
    work = config.app.paths.work / "three" / DAY / first.run_id
    executed(store, work, first.run_id, first.pk, time.time())
    outbox = config.app.paths.outbox
    forget_kept(config, store, outbox, [outbox / "_failed" / "three" / DAY / first.run_id])
    assert len(kept_for(store, workflow, first)) == 2, "a failed attempt's folder going leaves the run's copies"
    forget_kept(config, store, outbox, [outbox / "three" / DAY])
    assert kept_for(store, workflow, first) == [] and not work.exists()


def test_backfill_fresh_applies_to_the_runs_it_requeues_only(tmp_path, store, setup):
    from autoflow_watch.store import AttemptResult
    from autoflow_watch.vocabulary import RunState

    workflow, first = setup
    executed(store, tmp_path / "a1", first.run_id, first.pk, time.time() - 10)
    store.runs.finish(first, AttemptResult("succeeded"), timedelta(seconds=1))
    store.runs.requeue("three", [DAY_], states=(RunState.FAILED, RunState.DEAD), fresh=True)  # succeeded: untouched
    assert len(kept_for(store, workflow, first)) == 2
    store.runs.requeue("three", [DAY_], fresh=True)  # rerun --fresh
    assert kept_for(store, workflow, first) == []
