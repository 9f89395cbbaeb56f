"""Two daemons watching one inbox, each with its own connection to one PostgreSQL store.

Each marker becomes one fact and is moved once; the daemon that loses a race for a marker
moves nothing and logs nothing above debug.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from daemon_process import wait_for
from inbox_helpers import Logs, entries, marker_name
from shared_postgres import empty_postgres

from autoflow_watch.config.model import InboxConfig
from autoflow_watch.sources.inbox.quarantine import InboxFolders, MovedElsewhere, move_to
from autoflow_watch.sources.inbox.source import InboxSource
from autoflow_watch.store import Store

pytestmark = pytest.mark.postgres
DAYS = [dt.date(2026, 10, 1) + timedelta(days=i) for i in range(30)]
ABOVE_DEBUG = {"info", "warning", "error", "critical", "exception"}


@pytest.fixture
def stores():
    url = empty_postgres()
    handles = [Store(url), Store(url)]
    yield handles
    for handle in handles:
        handle.close()


def two_sources(inbox: Path, stores: list[Store]) -> list[InboxSource]:
    config = InboxConfig(settle=timedelta(seconds=0.2), rescan_interval=timedelta(seconds=1))
    return [InboxSource(inbox, config, record=store.facts.record_batch) for store in stores]


def check_once_each(inbox: Path, store: Store, logs: Logs) -> None:
    names = [marker_name("calls", day) for day in DAYS]
    wait_for(lambda: entries(inbox) == [], 60, what="every marker out of the inbox")
    assert sorted(os.listdir(inbox / "processed")) == sorted(names), "each marker moved once, under its own name"
    assert store.facts.count() == len(DAYS)
    assert {store.facts.get("calls", day)[1] for day in DAYS} == {1}, "one fact each, delivered once"
    accepted = logs.named("inbox.marker.accepted")
    assert sorted(e["marker"] for e in accepted) == sorted(names), "one line per marker, from the daemon that moved it"
    noisy = [e for e in logs.events if e.get("log_level") in ABOVE_DEBUG and e["event"].startswith("inbox.marker")]
    assert noisy == accepted
    assert not [e for e in logs.events if e.get("log_level") in ("warning", "error")], "no daemon complains"


def test_two_daemons_scanning_one_inbox_at_start_record_each_marker_once(tmp_path, stores, logs):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for day in DAYS:
        (inbox / marker_name("calls", day)).write_text('{"rows": 1}')
    sources = two_sources(inbox, stores)
    starters = [threading.Thread(target=source.start) for source in sources]
    try:
        for thread in starters:
            thread.start()
        for thread in starters:
            thread.join(timeout=60)
        check_once_each(inbox, stores[0], logs)
    finally:
        for source in sources:
            source.stop()


def test_two_daemons_watching_one_inbox_record_markers_written_at_once_once(tmp_path, stores, logs):
    inbox = tmp_path / "inbox"
    sources = two_sources(inbox, stores)
    for source in sources:
        source.start()
    try:
        for day in DAYS:
            (inbox / marker_name("calls", day)).touch()
        check_once_each(inbox, stores[0], logs)
    finally:
        for source in sources:
            source.stop()


def test_the_second_mover_of_a_marker_finds_it_moved_and_moves_nothing(tmp_path):
    inbox, processed = tmp_path / "inbox", tmp_path / "inbox" / "processed"
    processed.mkdir(parents=True)
    (processed / "calls_2026-11-24.ready").write_text("an older marker of the same name")
    marker = inbox / "calls_2026-11-24.ready"
    marker.touch()
    os.link(marker, processed / "calls_2026-11-24.ready.1")  # the other daemon linked it, not yet unlinked
    with InboxFolders(inbox) as dirs, pytest.raises(MovedElsewhere):
        move_to(dirs.fd, marker.name, dirs.folder("processed"))
    assert sorted(os.listdir(processed)) == ["calls_2026-11-24.ready", "calls_2026-11-24.ready.1"]
    assert not marker.exists(), "the other daemon's move is finished, not repeated"
