"""What the FlowDB source records: FlowMachine's availability rule, read from a real etl.etl_records."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flowdb_helpers import FlowDb, MakeConfig, RecordingStore, named

from autoflow_watch.sources.flowdb.source import FlowDbSource
from autoflow_watch.sources.source import PollFailure
from autoflow_watch.store import Store
from autoflow_watch.vocabulary import Fact, FactChange

pytestmark = pytest.mark.postgres
D = dt.date


@pytest.fixture
def store(tmp_path: Path):
    handle = Store(f"sqlite:///{tmp_path}/state.db")
    yield handle
    handle.close()


def test_ingested_rows_become_flowdb_facts_in_one_batch_per_poll(flowdb: FlowDb, make_config: MakeConfig, store: Store):
    for day in (D(2026, 11, 23), D(2026, 11, 24)):
        flowdb.insert("calls", day)
    flowdb.insert("sms", D(2026, 11, 24))
    flowdb.insert("calls", D(2026, 11, 24))  # FlowETL re-ran the day: still one fact
    recording = RecordingStore(store)

    outcome = FlowDbSource(make_config(), recording).poll_once()

    assert (outcome.ok, outcome.facts, outcome.new_facts) == (True, 3, 3)
    assert len(recording.batches) == 1
    assert store.facts.dates_by_dataset() == {"calls": {D(2026, 11, 23), D(2026, 11, 24)}, "sms": {D(2026, 11, 24)}}
    fact, deliveries = store.facts.get("calls", D(2026, 11, 24))
    assert (fact.source, deliveries) == ("flowdb", 1)


def test_quarantined_and_archived_rows_are_not_available(flowdb: FlowDb, make_config: MakeConfig, store: Store):
    flowdb.insert("calls", D(2026, 11, 24), state="quarantine")
    flowdb.insert("calls", D(2026, 11, 23), state="archive")

    outcome = FlowDbSource(make_config(), store.facts.record_batch).poll_once()

    assert (outcome.ok, outcome.facts) == (True, 0)
    assert store.facts.count() == 0


def test_a_date_is_never_withdrawn_and_known_dates_are_not_recorded_again(
    flowdb: FlowDb, make_config: MakeConfig, store: Store
):
    flowdb.insert("calls", D(2026, 11, 24))
    recording = RecordingStore(store)
    source = FlowDbSource(make_config(), recording)
    source.poll_once()
    with flowdb.connect() as conn:
        conn.execute("UPDATE etl.etl_records SET state = 'archive'")
    flowdb.insert("calls", D(2026, 11, 25))

    second = source.poll_once()

    assert (second.facts, second.new_facts) == (1, 1)
    assert [[f.day for f in batch] for batch in recording.batches] == [[D(2026, 11, 24)], [D(2026, 11, 25)]]
    assert store.facts.dates_by_dataset() == {"calls": {D(2026, 11, 24), D(2026, 11, 25)}}


def test_odd_rows_are_skipped_with_one_warning_each(
    flowdb: FlowDb, make_config: MakeConfig, store: Store, events: list
):
    flowdb.insert("calls", D(2026, 11, 24))
    flowdb.insert("Calls", D(2026, 11, 24))
    flowdb.insert("../etc", D(2026, 11, 24))
    flowdb.insert(None, D(2026, 11, 24))
    flowdb.insert("sms", None)
    flowdb.insert("sms", "infinity")
    flowdb.insert("sms", "0044-03-15 BC")
    source = FlowDbSource(make_config(), store.facts.record_batch)

    outcome = source.poll_once()
    source.poll_once()  # the same rows again: not warned twice

    assert (outcome.ok, outcome.facts, outcome.skipped) == (True, 1, 6)
    assert store.facts.dates_by_dataset() == {"calls": {D(2026, 11, 24)}}
    warnings = named(events, "flowdb.row.skipped")
    assert len(warnings) == 6 and all(w["log_level"] == "warning" for w in warnings)
    assert {w["reason"] for w in warnings} >= {"cdr_type is NULL", "cdr_date is NULL"}
    assert {w["cdr_date"] for w in warnings if w["cdr_type"] == "sms"} == {"None", "'infinity'", "'0044-03-15 BC'"}


def test_a_reader_with_only_select_is_enough(flowdb: FlowDb, make_config: MakeConfig, store: Store):
    flowdb.insert("calls", D(2026, 11, 24))
    reader = flowdb.create_reader()

    outcome = FlowDbSource(make_config(url=flowdb.config_url(reader)), store.facts.record_batch).poll_once()

    assert (outcome.ok, outcome.facts) == (True, 1)


def test_a_role_without_select_is_one_clear_error_however_often_it_is_retried(
    flowdb: FlowDb, make_config: MakeConfig, store: Store, events: list
):
    reader = flowdb.create_reader(can_select=False)
    failed: list[bool] = []
    config = make_config(url=flowdb.config_url(reader))
    source = FlowDbSource(config, store.facts.record_batch, on_failed_poll=lambda: failed.append(True))

    outcomes = [source.poll_once() for _ in range(3)]

    assert {(o.ok, o.failure) for o in outcomes} == {(False, PollFailure.NO_PRIVILEGE)}
    assert len(failed) == 3, "each failed poll counts (autoflow_watch_source_errors)"
    [error] = [e for e in named(events, "flowdb.unavailable") if e["log_level"] == "error"]
    assert error["kind"] == "no_privilege" and "permission denied" in error["error"]
    assert "GRANT" in error["hint"]


def test_a_slow_flowdb_times_out_and_recovers(flowdb: FlowDb, make_config: MakeConfig, store: Store, events: list):
    flowdb.insert("calls", D(2026, 11, 24))
    source = FlowDbSource(make_config(timeout="1s"), store.facts.record_batch)
    with flowdb.connect() as locker, locker.transaction():
        locker.execute("LOCK TABLE etl.etl_records IN ACCESS EXCLUSIVE MODE")
        slow = source.poll_once()
    recovered = source.poll_once()

    assert (slow.ok, slow.failure) == (False, PollFailure.TIMEOUT)
    assert slow.duration_s < 30
    assert (recovered.ok, recovered.facts) == (True, 1)
    assert [e["kind"] for e in named(events, "flowdb.unavailable")] == ["timeout"]
    assert len(named(events, "flowdb.available_again")) == 1


def test_a_database_without_etl_records_says_so(flowdb: FlowDb, make_config: MakeConfig, store: Store):
    with flowdb.connect() as conn:
        conn.execute("DROP SCHEMA etl CASCADE")

    outcome = FlowDbSource(make_config(), store.facts.record_batch).poll_once()

    assert (outcome.ok, outcome.failure) == (False, PollFailure.NO_TABLE)


def test_a_marker_for_a_day_flowdb_reported_first_is_a_confirmation(
    flowdb: FlowDb, make_config: MakeConfig, store: Store
):
    flowdb.insert("calls", D(2026, 11, 24))
    FlowDbSource(make_config(), store.facts.record_batch).poll_once()

    marker = Fact("calls", D(2026, 11, 24), "inbox", {"rows": 1}, delivery_key="calls_2026-11-24.ready@1")

    assert store.facts.record(marker) is FactChange.CONFIRMED
    fact, deliveries = store.facts.get("calls", D(2026, 11, 24))
    assert (fact.source, deliveries) == ("flowdb", 1)
    [times] = store.facts.times().values()
    assert times.updated_at == times.first_seen_at  # nothing for on_redelivery = "rerun" to react to
