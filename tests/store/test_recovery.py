"""Start-up recovery after a crash at each point of a run's life, on SQLite and PostgreSQL.

Release 2 published first and recorded second, so a crash between the two left a complete
report whose run still says ``running``: recovery records it as succeeded, not run again (a
store upgraded from release 2 may hold such a run). Release 3 records first (the fence, see
test_fence.py) and recovery then finishes the swap.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from datetime import timedelta
from pathlib import Path

from autoflow_watch.daemon.recovery import recover_expired
from autoflow_watch.publish.outbox import publish_report
from autoflow_watch.publish.staging import STAGING, clean_staging, staging_name
from autoflow_watch.vocabulary import RunState

D = dt.date(2026, 11, 24)
TTL = timedelta(seconds=60)
BACKOFFS = {"wf": timedelta(seconds=1)}


def published(outbox: Path, run_id: str, tmp_path: Path) -> Path:
    report = tmp_path / "report.html"
    report.write_text("<p>done</p>", encoding="utf-8")
    manifest = {"workflow": "wf", "reference_date": D.isoformat(), "run_id": run_id, "attempt": 1}
    return publish_report(outbox, "wf", D.isoformat(), [report], manifest)


def test_a_report_published_just_before_the_crash_is_recorded_succeeded_not_run_again(store, tmp_path):
    outbox = tmp_path / "outbox"
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("crashed-daemon", {"wf": 3}, TTL)
    folder = published(outbox, claim.run_id, tmp_path)  # ... and the daemon died before recording it

    [recovered] = recover_expired(store, outbox, BACKOFFS, all_running=True)

    assert recovered.run_id == claim.run_id
    [run] = store.runs.status()
    assert (run.state, run.attempts) == (RunState.SUCCEEDED, 1)
    assert store.runs.claim_next("next-daemon", {"wf": 3}, TTL) is None, "nothing left to run again"
    assert json.loads((folder / "manifest.json").read_text())["run_id"] == claim.run_id


def test_a_report_of_an_earlier_run_does_not_count_for_the_crashed_attempt(store, tmp_path):
    outbox = tmp_path / "outbox"
    published(outbox, "an-earlier-run", tmp_path)
    store.runs.ensure("wf", [D], 3)
    store.runs.claim_next("crashed-daemon", {"wf": 3}, TTL)

    recover_expired(store, outbox, BACKOFFS, all_running=True)

    [run] = store.runs.status()
    assert (run.state, run.attempts) == (RunState.PENDING, 1), "the attempt counts and the run goes again"


def test_a_daemon_without_the_instance_lock_reclaims_only_expired_leases(store, tmp_path):
    store.runs.ensure("wf", [D], 3)
    store.runs.claim_next("live-daemon", {"wf": 3}, TTL)

    assert recover_expired(store, tmp_path / "outbox", BACKOFFS, all_running=False) == []
    assert store.runs.status()[0].state is RunState.RUNNING


def test_staging_left_by_a_dead_writer_is_removed_and_a_live_writers_is_kept(tmp_path):
    outbox = tmp_path / "outbox"
    dead = outbox / STAGING / staging_name().replace(f"p{os.getpid()}_", "p999999999_", 1)
    live = outbox / STAGING / staging_name()
    for folder in (dead, live):
        folder.mkdir(parents=True)
        (folder / "report.html").write_text("half a report")

    assert clean_staging(outbox) == 1

    assert not dead.exists() and live.exists()


def test_a_peer_host_whose_name_extends_ours_keeps_its_staging(tmp_path, monkeypatch):
    """Issue 19, item 11: host ``<host>.x`` is not ``<host>``; its live writer's staging is not ours to remove."""
    from autoflow_watch.publish import staging

    outbox = tmp_path / "outbox"
    ours = staging._host()
    monkeypatch.setattr(staging, "_host", lambda: f"{ours}.x")  # the peer names its entries
    peers = outbox / STAGING / staging_name().replace(f"p{os.getpid()}_", "p999999999_", 1)
    monkeypatch.setattr(staging, "_host", lambda: ours)
    dead = outbox / STAGING / staging_name().replace(f"p{os.getpid()}_", "p999999999_", 1)
    for folder in (peers, dead):
        folder.mkdir(parents=True)
        (folder / "report.html").write_text("half a report")

    assert clean_staging(outbox) == 1

    assert peers.exists() and not dead.exists()
