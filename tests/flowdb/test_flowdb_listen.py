"""LISTEN/NOTIFY with the shipped trigger, polling without it, and what the source says about its mode."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from daemon_process import wait_for
from flowdb_helpers import REPO, FlowDb, MakeConfig, RecordingStore, named

from autoflow_watch.sources.flowdb.source import FlowDbSource
from autoflow_watch.store import Store

pytestmark = pytest.mark.postgres
D = dt.date


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    handle = Store(f"sqlite:///{tmp_path}/state.db")
    yield handle
    handle.close()


@contextmanager
def running(source: FlowDbSource) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the source stops when asked"


def mode_lines(events: list) -> list[str]:
    return [event["mode"] for event in named(events, "flowdb.mode")]


def test_with_the_trigger_a_new_day_is_recorded_at_once_although_the_poll_is_ten_minutes_away(
    flowdb: FlowDb, make_config: MakeConfig, store: Store, events: list
):
    flowdb.install_trigger()
    prompts: list[float] = []
    source = FlowDbSource(
        make_config(poll_interval="10m"),
        store.facts.record_batch,
        on_new_facts=lambda: prompts.append(time.monotonic()),
    )
    with running(source):
        wait_for(lambda: mode_lines(events), 30, what="the first poll")
        flowdb.insert("calls", D(2026, 11, 24))
        committed = time.monotonic()
        wait_for(lambda: store.facts.count() == 1, 10, what="the notified fact")
        latency = time.monotonic() - committed

    assert mode_lines(events) == ["listen"]
    assert latency < 10  # typically a few milliseconds; bench/bench_flowdb.py measures it
    assert len(prompts) == 1
    found = store.facts.get("calls", D(2026, 11, 24))
    assert found is not None and found[0].source == "flowdb"


def test_without_the_trigger_it_polls_and_says_so_once(
    flowdb: FlowDb, make_config: MakeConfig, store: Store, events: list
):
    source = FlowDbSource(make_config(poll_interval="1s"), store.facts.record_batch)
    with running(source):
        wait_for(lambda: mode_lines(events), 30, what="the first poll")
        flowdb.insert("calls", D(2026, 11, 24))
        wait_for(lambda: store.facts.count() == 1, 30, what="the polled fact")
        time.sleep(1.5)  # more polls: the mode is not said again

    [mode] = named(events, "flowdb.mode")
    assert mode["mode"] == "poll" and "flowdb-sql" in mode["reason"]


def test_listen_false_polls_even_with_the_trigger(flowdb: FlowDb, make_config: MakeConfig, store: Store, events: list):
    flowdb.install_trigger()
    source = FlowDbSource(make_config(listen=False, poll_interval="10m"), store.facts.record_batch)
    with running(source):
        wait_for(lambda: mode_lines(events), 30, what="the first poll")
        flowdb.insert("calls", D(2026, 11, 24))
        time.sleep(2)
        assert store.facts.count() == 0, "no LISTEN: the next poll, ten minutes away, will find it"

    [mode] = named(events, "flowdb.mode")
    assert (mode["mode"], mode["reason"]) == ("poll", "listen = false")


def test_a_notify_from_anyone_else_is_only_a_prompt_and_invents_nothing(
    flowdb: FlowDb, make_config: MakeConfig, store: Store, events: list
):
    flowdb.install_trigger()
    flowdb.insert("calls", D(2026, 11, 23), state="quarantine")
    source = FlowDbSource(make_config(), store.facts.record_batch)
    with running(source):
        wait_for(lambda: mode_lines(events), 30, what="the first poll")
        with flowdb.connect() as conn:
            conn.execute("""NOTIFY autoflow_watch_flowdb, '{"cdr_type": "calls", "cdr_date": "2026-11-23"}'""")
        wait_for(lambda: len(named(events, "flowdb.notified")) == 1, 10, what="the notification")
        flowdb.insert("sms", D(2026, 11, 24))  # a real one afterwards still works
        wait_for(lambda: store.facts.count() == 1, 10, what="the real fact")

    assert store.facts.dates_by_dataset() == {"sms": {D(2026, 11, 24)}}


def test_a_burst_of_commits_is_recorded_in_few_batches(
    flowdb: FlowDb, make_config: MakeConfig, store: Store, events: list
):
    flowdb.install_trigger()
    recording = RecordingStore(store)
    source = FlowDbSource(make_config(), recording)
    days = [D(2026, 1, 1) + dt.timedelta(days=i) for i in range(60)]
    with running(source):
        wait_for(lambda: mode_lines(events), 30, what="the first poll")
        with flowdb.connect() as conn:
            for day in days:  # one commit each, as FlowETL does per day
                conn.execute(
                    "INSERT INTO etl.etl_records (cdr_type, cdr_date, state) VALUES ('calls', %s, 'ingested')", (day,)
                )
        wait_for(lambda: store.facts.count() == 60, 30, what="every day")

    assert sum(len(batch) for batch in recording.batches) == 60 and len(recording.batches) < 60


def test_flowdb_sql_prints_the_shipped_file_and_installing_it_twice_is_fine(flowdb: FlowDb):
    printed = subprocess.run(
        [sys.executable, "-m", "autoflow_watch", "flowdb-sql"], capture_output=True, text=True, check=True
    ).stdout

    assert printed == (REPO / "sql" / "flowdb-notify.sql").read_text(encoding="utf-8")
    flowdb.install_trigger()
    flowdb.install_trigger()
    with flowdb.connect() as conn:
        count = conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'autoflow_watch_notify'").fetchone()
    assert count == (1,)


def test_a_notify_flood_is_coalesced_into_a_bounded_poll_rate_and_a_new_day_still_arrives(
    flowdb: FlowDb, make_config: MakeConfig, store: Store, events: list
):
    """Issue 19, item 9: anyone may NOTIFY the channel; a flood costs at most about one poll a second."""
    flowdb.install_trigger()
    source = FlowDbSource(make_config(poll_interval="10m"), store.facts.record_batch)
    flooding = threading.Event()
    sent = [0]

    def flood() -> None:
        with flowdb.connect() as conn:
            while not flooding.is_set():
                conn.execute("NOTIFY autoflow_watch_flowdb, 'flood'")  # one commit each, as fast as it goes
                sent[0] += 1

    with running(source):
        wait_for(lambda: mode_lines(events), 30, what="the first poll")
        before = len(named(events, "flowdb.poll.ok"))
        flooder = threading.Thread(target=flood, daemon=True)
        started = time.monotonic()
        flooder.start()
        try:
            wait_for(lambda: sent[0] >= 2000, 60, what="a flood of notifications")
            flowdb.insert("calls", D(2026, 11, 24))  # a real day in the middle of the flood
            wait_for(lambda: store.facts.count() == 1, 30, what="the real day, during the flood")
            wait_for(lambda: time.monotonic() - started >= 3, 30, what="three seconds of flood")
        finally:
            flooding.set()
            flooder.join(timeout=30)
        elapsed = time.monotonic() - started
        polls = len(named(events, "flowdb.poll.ok")) - before
    assert sent[0] > 20 * elapsed, "it was a flood (more than 20 notifications a second)"
    assert polls <= elapsed / 1.0 + 2, f"{polls} polls in {elapsed:.1f} s of flood"
