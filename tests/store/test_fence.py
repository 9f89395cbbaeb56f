"""The fence: a success is recorded only under a current claim; one swapper at a time (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from autoflow_watch.daemon.publishing import finish_staged
from autoflow_watch.publish.outbox import read_manifest
from autoflow_watch.publish.staged import stage_report, staged_reports
from autoflow_watch.store.fence import Fence, Permit, publish_permit, record_success
from autoflow_watch.vocabulary import AttemptOutcome, AttemptResult, RunState

D = dt.date(2026, 11, 24)
TTL = timedelta(seconds=60)
NO_BACKOFF = timedelta(0)


def test_a_current_claim_records_the_success_once(store):
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("daemon-a", {"wf": 3}, TTL)
    assert record_success(store.engine, claim, "daemon-a", NO_BACKOFF) == (Fence.RECORDED, RunState.SUCCEEDED)
    assert record_success(store.engine, claim, "daemon-a", NO_BACKOFF)[0] is Fence.ALREADY, (
        "an answer lost, asked again"
    )
    assert store.runs.attempt(claim.run_id).outcome is AttemptOutcome.SUCCEEDED


def test_a_run_taken_over_by_another_daemon_is_lost(store):
    store.runs.ensure("wf", [D], 3)
    mine = store.runs.claim_next("daemon-a", {"wf": 3}, timedelta(seconds=1))
    later = time.time() + 5  # my lease lapsed; daemon b expires the run and claims it again
    expired = AttemptResult(AttemptOutcome.EXPIRED, "LeaseExpired", "lease expired")
    store.runs.finish_if_current(mine, expired, NO_BACKOFF, now=later)
    theirs = store.runs.claim_next("daemon-b", {"wf": 3}, TTL, now=later)
    assert theirs is not None
    assert record_success(store.engine, mine, "daemon-a", NO_BACKOFF) == (Fence.LOST, None)
    [run] = store.runs.status()
    assert (run.state, run.run_id) == (RunState.RUNNING, theirs.run_id), "their attempt is untouched"


def test_another_owner_is_not_a_current_claim(store):
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("daemon-a", {"wf": 3}, TTL)
    assert record_success(store.engine, claim, "daemon-b", NO_BACKOFF)[0] is Fence.LOST, "not the owner"
    [run] = store.runs.status()
    assert run.state is RunState.RUNNING, "nothing recorded"


def test_a_lease_that_lapsed_while_nobody_took_the_run_is_still_the_claim(store):
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("daemon-a", {"wf": 3}, timedelta(seconds=1))
    later = time.time() + 5  # a store outage longer than the lease, one daemon: nobody expired the run
    assert record_success(store.engine, claim, "daemon-a", NO_BACKOFF, now=later)[0] is Fence.RECORDED
    assert store.runs.expired(now=later + 5) == [], "and once recorded, nobody can expire it"


def _stage(outbox: Path, tmp_path: Path, run_id: str) -> None:
    report = tmp_path / run_id / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text(f"<p>{run_id}</p>", encoding="utf-8")
    manifest = {"workflow": "wf", "reference_date": D.isoformat(), "run_id": run_id, "attempt": 1}
    stage_report(outbox, "wf", D.isoformat(), [report], manifest)


def test_recovery_swaps_in_a_recorded_report_and_discards_a_lost_ones(store, tmp_path):
    outbox = tmp_path / "outbox"
    store.runs.ensure("wf", [D, D + timedelta(days=1)], 3)
    recorded = store.runs.claim_next("daemon-a", {"wf": 3}, TTL)
    _stage(outbox, tmp_path, recorded.run_id)
    record_success(store.engine, recorded, "daemon-a", NO_BACKOFF)  # ... and daemon a died before the swap
    running = store.runs.claim_next("daemon-c", {"wf": 3}, TTL)
    _stage(outbox, tmp_path, running.run_id)  # daemon c waits for the store: its report must wait too

    [published] = finish_staged(store, outbox, 0.0)

    assert published.run_id == recorded.run_id
    assert read_manifest(outbox, "wf", D.isoformat())["run_id"] == recorded.run_id
    assert [s.run_id for s in staged_reports(outbox)] == [running.run_id], "a running attempt's report waits"
    store.runs.finish_if_current(running, AttemptResult(AttemptOutcome.EXPIRED, "LeaseExpired", "x"), NO_BACKOFF)
    assert finish_staged(store, outbox, 0.0) == []
    assert staged_reports(outbox) == [], "an expired attempt's staged report is discarded"
    assert read_manifest(outbox, "wf", (D + timedelta(days=1)).isoformat()) is None, "and never published"


def test_a_newer_attempt_makes_an_unswapped_report_stale(store, tmp_path):
    outbox = tmp_path / "outbox"
    store.runs.ensure("wf", [D], 3)
    first = store.runs.claim_next("daemon-a", {"wf": 3}, TTL)
    _stage(outbox, tmp_path, first.run_id)
    record_success(store.engine, first, "daemon-a", NO_BACKOFF)
    store.runs.requeue("wf", [D])
    store.runs.claim_next("daemon-b", {"wf": 3}, TTL)  # the rerun is claimed before the swap happened
    with publish_permit(store.engine, first.run_id) as (permit, _, _):
        assert permit is Permit.DISCARD


@pytest.mark.postgres
def test_one_swapper_at_a_time_the_other_is_told_busy(store, store_url):
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite serves one daemon: there is nobody to race")
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("daemon-a", {"wf": 3}, TTL)
    record_success(store.engine, claim, "daemon-a", NO_BACKOFF)
    inside, release, seen = threading.Event(), threading.Event(), []

    def first_swapper() -> None:
        with publish_permit(store.engine, claim.run_id) as (permit, _, _):
            seen.append(permit)
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=first_swapper)
    thread.start()
    assert inside.wait(30)
    with publish_permit(store.engine, claim.run_id) as (permit, _, _):
        assert permit is Permit.BUSY
    release.set()
    thread.join(30)
    assert seen == [Permit.SWAP]


@pytest.mark.postgres
def test_the_recording_daemon_waits_for_a_peer_that_is_only_looking(store, store_url):
    if not store_url.startswith("postgresql"):
        pytest.skip("SQLite serves one daemon: there is nobody to race")
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("daemon-a", {"wf": 3}, TTL)
    record_success(store.engine, claim, "daemon-a", NO_BACKOFF)
    inside, release = threading.Event(), threading.Event()

    def peer_looking() -> None:  # a peer's recovery holds the row, sees a recent success, leaves it
        with publish_permit(store.engine, claim.run_id, grace_s=60) as (permit, _, _):
            assert permit is Permit.WAIT
            inside.set()
            release.wait(30)

    thread = threading.Thread(target=peer_looking)
    thread.start()
    assert inside.wait(30)
    threading.Timer(0.5, release.set).start()
    with publish_permit(store.engine, claim.run_id, wait=True) as (permit, _, _):
        assert permit is Permit.SWAP, "the recording daemon swaps once the peer has looked"
    thread.join(30)
