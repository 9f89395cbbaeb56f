"""How markers arrive: touch, atomic renames, renames from elsewhere, slow writers, a start-up scan."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from daemon_process import wait_for
from inbox_helpers import Logs, StartInbox, entries, fact_of, marker_name, wait_fact
from watchdog.observers.polling import PollingObserver

from autoflow_watch.sources.inbox import handling as inbox_module
from autoflow_watch.store import Store


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    """Every marker the source reads (name, time): the real reader, counted."""
    seen: list[tuple[str, float]] = []
    real = inbox_module.read_marker

    def counting(path: Path):  # type: ignore[no-untyped-def]
        seen.append((path.name, time.monotonic()))
        return real(path)

    monkeypatch.setattr(inbox_module, "read_marker", counting)
    return seen


def test_touched_marker_becomes_a_fact_and_moves_to_processed(start_inbox: StartInbox, store: Store) -> None:
    source = start_inbox(settle=3600)  # only the close event can make it complete
    (source.inbox / "calls_2026-11-24.ready").touch()
    fact, deliveries = wait_fact(store, "calls", "2026-11-24")
    assert (fact.source, fact.metadata, deliveries) == ("inbox", None, 1)
    wait_for(lambda: entries(source.processed) == ["calls_2026-11-24.ready"], 10, what="the move to processed/")
    assert entries(source.inbox) == [] and entries(source.rejected) == []


def test_json_object_content_is_kept_as_the_facts_metadata(start_inbox: StartInbox, store: Store) -> None:
    source = start_inbox()
    (source.inbox / "sms_2026-11-24.ready").write_text('{"rows": 1234, "source": "msc-3"}\n', encoding="utf-8")
    fact, _ = wait_fact(store, "sms", "2026-11-24")
    assert fact.metadata == {"rows": 1234, "source": "msc-3"}


@pytest.mark.parametrize("temporary", [".calls_2026-11-24.ready", "calls_2026-11-24.ready.tmp", "calls.part"])
def test_atomic_rename_from_a_temporary_name_in_the_inbox_is_read_once_complete(
    start_inbox: StartInbox, store: Store, reads: list[tuple[str, float]], temporary: str
) -> None:
    source = start_inbox(settle=3600)  # the rename alone must make it complete
    work = source.inbox / temporary
    with work.open("w", encoding="utf-8") as handle:
        handle.write('{"rows": ')
        handle.flush()
        source.scan()  # a scan meanwhile leaves the temporary name alone
        handle.write("42}")
    source.scan()
    assert work.exists() and not entries(source.rejected), "a temporary name is ignored, never rejected"
    os.rename(work, source.inbox / "calls_2026-11-24.ready")
    fact, _ = wait_fact(store, "calls", "2026-11-24")
    assert fact.metadata == {"rows": 42}
    wait_for(lambda: entries(source.processed) == ["calls_2026-11-24.ready"], 10, what="the move to processed/")
    assert [name for name, _ in reads] == ["calls_2026-11-24.ready"], "read once, under its final name only"


def test_rename_in_from_another_folder_counts_as_complete(
    start_inbox: StartInbox, store: Store, tmp_path: Path
) -> None:
    source = start_inbox(settle=3600)  # written just now: a scan would wait; the rename must not
    outside = tmp_path / "staging" / "calls_2026-11-24.ready"
    outside.parent.mkdir()
    outside.write_text('{"rows": 7}', encoding="utf-8")
    os.rename(outside, source.inbox / outside.name)
    fact, _ = wait_fact(store, "calls", "2026-11-24")
    assert fact.metadata == {"rows": 7}


def test_an_old_file_renamed_in_from_another_folder_is_taken_at_once(
    start_inbox: StartInbox, store: Store, tmp_path: Path
) -> None:
    source = start_inbox(settle=2)
    outside = tmp_path / "calls_2026-11-23.ready"
    outside.write_text("", encoding="utf-8")
    os.utime(outside, (time.time() - 3600, time.time() - 3600))
    os.rename(outside, source.inbox / outside.name)
    wait_fact(store, "calls", "2026-11-23")


def test_slow_chunked_writer_is_read_once_after_it_closes(
    start_inbox: StartInbox, store: Store, reads: list[tuple[str, float]]
) -> None:
    source = start_inbox(settle=2, rescan_interval=0.5)  # frequent scans, all while it writes
    payload = json.dumps({"rows": 123456, "cells": list(range(400)), "checksum": "0f" * 32})
    chunks = [payload[i : i + len(payload) // 10 + 1] for i in range(0, len(payload), len(payload) // 10 + 1)]
    with (source.inbox / "calls_2026-11-24.ready").open("w", encoding="utf-8") as handle:
        for chunk in chunks:  # about 3 s in all, longer than settle, never a pause that long
            handle.write(chunk)
            handle.flush()
            time.sleep(0.3)
        closed = time.monotonic()
    fact, _ = wait_fact(store, "calls", "2026-11-24")
    assert fact.metadata == json.loads(payload)
    assert len(reads) == 1 and reads[0][1] >= closed, "read once, after the writer closed it"
    assert entries(source.rejected) == []
    assert source.scans > 3, "scans ran while it was being written"


def test_markers_already_there_at_start_are_picked_up_by_the_start_up_scan(
    inbox: Path, start_inbox: StartInbox, store: Store
) -> None:
    inbox.mkdir(parents=True)
    for day in ("2026-11-22", "2026-11-23", "2026-11-24"):
        (inbox / marker_name("calls", day)).touch()
        os.utime(inbox / marker_name("calls", day), (time.time() - 60, time.time() - 60))
    source = start_inbox(settle=2)
    assert store.facts.count() == 3, "recorded before start() returns"
    assert len(entries(source.processed)) == 3


def test_a_marker_still_being_written_at_start_waits_for_settle_not_for_the_rescan(
    inbox: Path, start_inbox: StartInbox, store: Store
) -> None:
    inbox.mkdir(parents=True)
    (inbox / "calls_2026-11-24.ready").touch()  # modified just now: the start-up scan leaves it
    source = start_inbox(settle=0.5, rescan_interval=3600)
    assert fact_of(store, "calls", "2026-11-24") is None and entries(source.inbox) == ["calls_2026-11-24.ready"]
    wait_fact(store, "calls", "2026-11-24")


def test_polling_observer_finds_touched_and_renamed_markers_without_inotify(
    start_inbox: StartInbox, store: Store
) -> None:
    source = start_inbox(observer="polling", settle=0.2, rescan_interval=3600)
    assert isinstance(source._observer, PollingObserver)
    (source.inbox / "calls_2026-11-23.ready").touch()
    (source.inbox / ".calls_2026-11-24.ready").write_text('{"rows": 5}', encoding="utf-8")
    os.rename(source.inbox / ".calls_2026-11-24.ready", source.inbox / "calls_2026-11-24.ready")
    wait_fact(store, "calls", "2026-11-23")
    fact, _ = wait_fact(store, "calls", "2026-11-24")
    assert fact.metadata == {"rows": 5}


def test_concurrent_writers_of_different_markers_are_all_recorded(start_inbox: StartInbox, store: Store) -> None:
    source = start_inbox()

    def writer(dataset: str) -> None:
        for day in range(1, 29):
            (source.inbox / f"{dataset}_2026-02-{day:02d}.ready").write_text('{"ok": true}', encoding="utf-8")

    threads = [threading.Thread(target=writer, args=(name,)) for name in ("calls", "sms", "mds", "topups")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(lambda: store.facts.count() == 4 * 28, 30, what="112 facts")
    wait_for(lambda: len(entries(source.processed)) == 4 * 28, 10, what="112 markers in processed/")


def test_a_dataset_no_workflow_uses_is_recorded_and_logged_at_debug(
    start_inbox: StartInbox, store: Store, logs: Logs
) -> None:
    source = start_inbox(is_used=lambda dataset: dataset == "calls")
    (source.inbox / "calls_2026-11-24.ready").touch()
    (source.inbox / "weather_2026-11-24.ready").touch()
    wait_fact(store, "calls", "2026-11-24")
    wait_fact(store, "weather", "2026-11-24")  # a workflow added later can use it
    wait_for(lambda: len(logs.named("inbox.marker.accepted")) == 2, 10, what="both accepted")
    assert logs.named("inbox.marker.accepted", dataset="calls")[0]["log_level"] == "info"
    assert logs.named("inbox.marker.accepted", dataset="weather")[0]["log_level"] == "debug"
