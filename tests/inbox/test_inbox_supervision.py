"""The watch goes on: a handler or worker that raises, a dead observer, a deleted inbox, a refusing store,
an inotify queue overflow."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from daemon_process import wait_for
from inbox_helpers import Logs, StartInbox, entries, fact_of, marker_name, wait_fact
from sqlalchemy.exc import OperationalError

from autoflow_watch.sources.inbox import source as inbox_module
from autoflow_watch.sources.inbox.handling import MarkerHandler
from autoflow_watch.store import Fact, FactChange, Store


class Flaky:
    """The real ``record_batch``, refusing while ``refuse(facts)`` says so."""

    def __init__(self, store: Store, refuse: Any) -> None:
        self._store = store
        self._refuse = refuse
        self.refused = 0

    def __call__(self, facts: list[Fact]) -> list[FactChange]:
        if self._refuse(facts, self.refused):
            self.refused += 1
            raise OperationalError("INSERT INTO facts", {}, Exception("database is locked"))
        return self._store.facts.record_batch(facts)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_handler_that_raises_once_costs_only_a_restart_and_a_rescan(
    start_inbox: StartInbox, store: Store, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = inbox_module._Hints.on_any_event
    calls = []

    def raises_once(self: Any, event: Any) -> None:
        calls.append(event)
        if len(calls) == 1:
            raise RuntimeError("handler bug")  # in watchdog's own thread, which it kills
        real(self, event)

    monkeypatch.setattr(inbox_module._Hints, "on_any_event", raises_once)
    source = start_inbox(rescan_interval=3600)
    (source.inbox / "calls_2026-11-23.ready").touch()
    wait_fact(store, "calls", "2026-11-23")  # found by the rescan that follows the restart
    assert source.observer_restarts == 1 and logs.named("inbox.observer.restarted")
    wait_for(lambda: source.scans == 2, 10, what="the rescan after the restart to finish")
    scans = source.scans
    (source.inbox / "calls_2026-11-24.ready").touch()
    wait_fact(store, "calls", "2026-11-24")
    assert source.scans == scans, "the restarted observer delivers events again"
    assert source.healthy()


def test_an_error_in_the_worker_is_logged_and_the_watch_goes_on(
    start_inbox: StartInbox, store: Store, logs: Logs, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = MarkerHandler._examine
    calls = []

    def raises_once(self: MarkerHandler, dirs: Any, path: Any, complete: bool) -> Any:
        calls.append(path)
        if len(calls) == 1:
            raise RuntimeError("worker bug")
        return real(self, dirs, path, complete)

    source = start_inbox(rescan_interval=3600)
    monkeypatch.setattr(MarkerHandler, "_examine", raises_once)
    (source.inbox / "calls_2026-11-23.ready").touch()
    wait_fact(store, "calls", "2026-11-23")  # left in place by the error, looked at again after a pause
    error = logs.named("inbox.marker.examine_failed")
    assert error and error[0]["log_level"] == "error" and error[0]["exc_info"], "logged with its traceback"
    (source.inbox / "calls_2026-11-24.ready").touch()
    wait_fact(store, "calls", "2026-11-24")
    assert source.healthy()


def test_a_store_that_fails_once_keeps_the_marker_for_the_next_rescan(
    start_inbox: StartInbox, store: Store, logs: Logs
) -> None:
    flaky = Flaky(store, lambda facts, refused: refused == 0)
    source = start_inbox(record=flaky, rescan_interval=1)
    (source.inbox / "calls_2026-11-24.ready").write_text('{"rows": 9}', encoding="utf-8")
    wait_for(lambda: flaky.refused == 1, 10, what="the refused write")
    assert entries(source.rejected) == [], "a store failure is not the marker's fault"
    fact, deliveries = wait_fact(store, "calls", "2026-11-24")  # the periodic rescan retries it
    assert (fact.metadata, deliveries) == ({"rows": 9}, 1)
    assert logs.named("inbox.marker.not_recorded", marker="calls_2026-11-24.ready")
    wait_for(lambda: entries(source.processed) == ["calls_2026-11-24.ready"], 10, what="the move to processed/")


def test_one_fact_the_store_refuses_does_not_hold_back_the_rest_of_its_batch(
    inbox: Path, start_inbox: StartInbox, store: Store
) -> None:
    inbox.mkdir(parents=True)
    days = [f"2026-11-{d}" for d in range(20, 25)]
    for day in days:
        (inbox / marker_name("calls", day)).touch()
        os.utime(inbox / marker_name("calls", day), (time.time() - 60, time.time() - 60))
    flaky = Flaky(store, lambda facts, refused: any(f.day.isoformat() == "2026-11-22" for f in facts))
    source = start_inbox(record=flaky)  # the start-up scan: one batch of five
    assert [fact_of(store, "calls", day) is not None for day in days] == [True, True, False, True, True]
    assert entries(source.inbox) == ["calls_2026-11-22.ready"] and entries(source.rejected) == []


def test_an_observer_that_dies_is_restarted_and_a_rescan_finds_what_it_missed(
    start_inbox: StartInbox, store: Store
) -> None:
    source = start_inbox(rescan_interval=3600)
    assert source._observer is not None
    source._observer.stop()  # the thread ends, as it would on a crash
    source._observer.join(5)
    (source.inbox / "calls_2026-11-24.ready").touch()  # no observer sees this
    wait_fact(store, "calls", "2026-11-24")
    assert source.observer_restarts == 1
    wait_for(source.healthy, 10, what="a healthy source again")


def test_a_deleted_inbox_folder_is_recreated_and_watched_again(start_inbox: StartInbox, store: Store) -> None:
    source = start_inbox(rescan_interval=3600)
    shutil.rmtree(source.inbox)  # inotify drops the watch of a deleted folder
    wait_for(lambda: source.observer_restarts == 1 and source.scans == 2, 10, what="the restart and its rescan")
    scans = source.scans
    (source.inbox / "calls_2026-11-24.ready").touch()
    wait_fact(store, "calls", "2026-11-24")
    assert source.scans == scans, "seen through the new watch, not a scan"


def test_health_follows_the_worker(start_inbox: StartInbox) -> None:
    source = start_inbox()
    assert source.healthy()
    source.stop()
    assert not source.healthy()


def test_an_inotify_queue_overflow_triggers_a_rescan(start_inbox: StartInbox, store: Store, logs: Logs) -> None:
    source = start_inbox(rescan_interval=3600)
    reader = getattr(source._observer, "_inotify_fd", None)
    if reader is None or not hasattr(reader, "_lock"):
        pytest.skip("this watchdog has no InotifyFD reader lock to hold")
    with open("/proc/sys/fs/inotify/max_queued_events", encoding="ascii") as handle:
        limit = int(handle.read())
    if limit > 200_000:
        pytest.skip(f"max_queued_events is {limit}: too many events to overflow quickly")
    noise = [str(source.inbox / ".noise-a"), str(source.inbox / ".noise-b")]
    scans = source.scans
    with reader._lock:  # the reader thread cannot take events off the kernel queue meanwhile
        for i in range(limit + 8192):  # close-after-write events, alternating so none merge
            os.close(os.open(noise[i % 2], os.O_WRONLY | os.O_CREAT, 0o644))
        (source.inbox / "calls_2026-11-24.ready").touch()  # its events are lost: the queue is full
    wait_fact(store, "calls", "2026-11-24")
    assert source.overflows == 1 and logs.named("inbox.events_lost.rescanning"), "the overflow was noticed"
    wait_for(lambda: source.scans > scans, 10, what="the rescan that found it to finish")
