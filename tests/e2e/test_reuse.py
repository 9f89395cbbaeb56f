"""Reruns that do not repeat work (docs/reuse.md): what a new attempt reuses, and what it executes again.

Real daemon, real kernels. The notebooks write a ledger of their executions, so "reused" here means
"not sent to a kernel", as a user would check it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, cli, wait_for
from reuse_project import (
    DAY,
    drop_marker,
    executed_by,
    reuse_project,
    reused_from,
    run_status,
    set_failing,
    write_reuse_config,
)

pytestmark = pytest.mark.e2e
ALL = {"extract", "transform", "report"}


def run_once(config: Path, expect: int = 0) -> dict:
    result = cli(config, "run", "--once")
    assert result.returncode == expect, result.stderr[-3000:]
    return run_status(config)


def until_retry_is_due(config: Path) -> None:
    def due() -> bool:
        when = run_status(config)["next_attempt_at"]
        return when is None or time.time() > dt.datetime.fromisoformat(when).timestamp()

    wait_for(due, 60, what="the retry's time")


def rerun(config: Path, *flags: str) -> None:
    result = cli(config, "rerun", *flags, "three", DAY)
    assert result.returncode == 0, result.stderr


def test_a_retry_after_the_report_failed_executes_only_the_report(tmp_path):
    config = reuse_project(tmp_path)
    set_failing(config, True)
    drop_marker(config)
    first = run_once(config, expect=1)
    assert (first["state"], first["reused"]) == ("failed", 0)
    assert executed_by(config, first["run_id"]) == ALL

    set_failing(config, False)
    until_retry_is_due(config)
    second = run_once(config)
    assert second["state"] == "succeeded" and second["attempts"] == 2
    assert executed_by(config, second["run_id"]) == {"report"}, "extract and transform were reused"
    assert second["reused"] == 2
    assert {s["name"]: s["state"] for s in second["notebooks"]} == {
        "extract": "reused",
        "transform": "reused",
        "report": "succeeded",
    }
    assert reused_from(config) == {"extract": first["run_id"], "transform": first["run_id"], "report": None}
    work = tmp_path / "var" / "work" / "three" / DAY
    assert (work / second["run_id"] / "transform.csv").read_text() == "rows,22\n", "what it wrote is copied too"
    assert not (work / second["run_id"] / "transform.csv").stat().st_nlink > 1, "a copy, never a link"
    assert not (work / first["run_id"]).exists(), "the replaced attempt's folder is removed"
    assert "reused 2 notebooks" in cli(config, "status").stdout


def test_what_changed_is_executed_again_with_what_reads_it(tmp_path):
    config = reuse_project(tmp_path)
    drop_marker(config)
    first = run_once(config)
    assert executed_by(config, first["run_id"]) == ALL

    notebook = tmp_path / "notebooks" / "transform.ipynb"
    notebook.write_text(notebook.read_text().replace("rows * scale", "rows * scale * 1"))
    rerun(config)
    edited = run_once(config)
    assert executed_by(config, edited["run_id"]) == {"transform", "report"}, "the edited notebook and its downstream"
    assert reused_from(config)["extract"] == first["run_id"]

    again = run_once_after_rerun(config)
    assert executed_by(config, again["run_id"]) == set() and again["reused"] == 3, "nothing changed: all reused"
    executors = {"extract": first["run_id"], "transform": edited["run_id"], "report": edited["run_id"]}
    assert reused_from(config) == executors, "reused_from names who executed it, across several reuses"

    write_reuse_config(tmp_path, scale=3)  # transform reads it; extract does not
    changed = run_once_after_rerun(config)
    assert executed_by(config, changed["run_id"]) == {"transform", "report"}

    rerun(config, "--fresh")
    fresh = run_once(config)
    assert executed_by(config, fresh["run_id"]) == ALL and fresh["reused"] == 0

    write_reuse_config(tmp_path, scale=3, workflow="reuse = false")
    off = run_once_after_rerun(config)
    assert executed_by(config, off["run_id"]) == ALL and off["reused"] == 0


def run_once_after_rerun(config: Path) -> dict:
    rerun(config)
    return run_once(config)


def test_a_redelivered_fact_reruns_everything(tmp_path):
    config = reuse_project(tmp_path, workflow='on_redelivery = "rerun"')
    drop_marker(config, content='{"rows": 1}')
    first = run_once(config)
    drop_marker(config, content='{"rows": 2}')  # the same fact, delivered again with new metadata
    again = run_once(config)
    assert again["run_id"] != first["run_id"], "the redelivery made a new attempt"
    assert executed_by(config, again["run_id"]) == ALL and again["reused"] == 0


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_reuse_survives_a_kill_9_of_the_daemon_between_attempts(tmp_path, backend):
    state = None
    if backend == "postgresql":
        from shared_postgres import empty_postgres

        state = empty_postgres()
    config = reuse_project(tmp_path, state=state, workflow='retry_backoff = "1h"')
    set_failing(config, True)
    daemon = DaemonProcess(config).start()
    drop_marker(config)
    wait_for(lambda: run_status(config)["state"] == "failed", 180, what="the first attempt's failure")
    first = run_status(config)
    daemon.kill9()

    set_failing(config, False)
    rerun(config)
    second = run_once(config)
    assert second["state"] == "succeeded"
    assert executed_by(config, second["run_id"]) == {"report"}
    assert reused_from(config) == {"extract": first["run_id"], "transform": first["run_id"], "report": None}


@pytest.mark.postgres
def test_another_daemon_on_the_store_reuses_what_it_can_read_and_says_what_it_cannot(tmp_path):
    from shared_postgres import empty_postgres

    config = reuse_project(tmp_path, state=empty_postgres())
    other = tmp_path / "autoflow-b.toml"  # daemon B: the same store, notebooks and outbox, its own work folder
    other.write_text(config.read_text().replace('work = "var/work"', 'work = "var/work-b"'))
    set_failing(config, True)
    drop_marker(config)
    first = run_once(config, expect=1)  # daemon A

    set_failing(config, False)
    rerun(config)
    second = run_once(other)  # daemon B reads A's kept copies
    assert executed_by(config, second["run_id"]) == {"report"}
    assert reused_from(config)["transform"] == first["run_id"]

    (tmp_path / "var" / "work-b").rename(tmp_path / "var" / "elsewhere")  # B's folder is not readable by A now
    rerun(config)
    result = cli(config, "run", "--once")  # daemon A
    assert result.returncode == 0, result.stderr[-3000:]
    third = run_status(config)
    assert executed_by(config, third["run_id"]) == ALL
    said = [json.loads(line) for line in result.stderr.splitlines() if '"reuse.unreadable"' in line]
    assert len(said) == 1 and said[0]["notebooks"] == ["extract", "transform", "report"]
    assert said[0]["folders"] == [str(tmp_path / "var" / "work-b" / "three" / DAY / second["run_id"])]
