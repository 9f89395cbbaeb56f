"""A burst: 1,000 markers written as fast as another process can, each recorded exactly once."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from daemon_process import wait_for
from inbox_helpers import StartInbox, entries

from autoflow_watch.config import load_config
from autoflow_watch.daemon.planning import plan_and_apply
from autoflow_watch.store import Fact, FactChange, Store

pytestmark = pytest.mark.process  # the markers come from another process

COUNT = 1000
FIRST = dt.date(2024, 1, 1)
WRITER = """
import datetime as dt, json, os, sys
inbox, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    day = dt.date(2024, 1, 1) + dt.timedelta(days=i)
    fd = os.open(os.path.join(inbox, f"calls_{day.isoformat()}.ready"), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    if i % 2:
        os.write(fd, json.dumps({"i": i}).encode())
    os.close(fd)
"""
WORKFLOW = """
[paths]
notebooks = "notebooks"

[[workflow]]
name = "daily"
datasets = ["calls"]
parameters = { region = "admin2" }
  [[workflow.notebook]]
  name = "aggregate"
  path = "aggregate.ipynb"
"""


def test_a_thousand_markers_written_as_fast_as_possible_are_each_recorded_once(
    project: Path, start_inbox: StartInbox, store: Store
) -> None:
    (project / "burst.toml").write_text(WORKFLOW, encoding="utf-8")
    config = load_config(project / "burst.toml")
    recorded: list[Fact] = []

    def record(facts: list[Fact]) -> list[FactChange]:
        changes = store.facts.record_batch(facts)
        recorded.extend(facts)
        return changes

    planned = threading.Event()
    source = start_inbox(record=record, on_fact=planned.set)
    writer = subprocess.run([sys.executable, "-c", WRITER, str(source.inbox), str(COUNT)], capture_output=True)
    assert writer.returncode == 0, writer.stderr

    def absorbed() -> bool:
        if planned.is_set():  # as the daemon's loop does: plan whenever the source says there is news
            planned.clear()
            plan_and_apply(config, store)
        return len(recorded) >= COUNT and len(entries(source.processed)) >= COUNT

    wait_for(absorbed, 120, what=f"{COUNT} markers absorbed")
    plan_and_apply(config, store)

    assert len(recorded) == COUNT, "no marker recorded twice"
    assert store.facts.count() == COUNT
    days = [FIRST + dt.timedelta(days=i) for i in range(COUNT)]
    for i, day in enumerate(days):
        fact, deliveries = store.facts.get("calls", day) or (None, 0)
        assert deliveries == 1 and fact.metadata == ({"i": i} if i % 2 else None), day
    assert entries(source.processed) == sorted(f"calls_{day.isoformat()}.ready" for day in days), "no suffixes"
    assert entries(source.inbox) == [] and entries(source.rejected) == []
    runs = store.runs.status()
    assert len(runs) == COUNT and {run.reference_date for run in runs} == set(days)
    assert {(run.state.value, run.attempts) for run in runs} == {("pending", 0)}
    assert store.runs.counts()["pending"] == COUNT
