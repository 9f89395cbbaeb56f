"""The inbox inside the real daemon: bad markers, markers dropped while it was down, the polling observer."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, cli, wait_for
from inbox_helpers import BAD_KINDS, RestrictedDaemon, cannot_drop_dac_override, entries, write_daemon_config

pytestmark = pytest.mark.e2e


def facts(project: Path) -> dict[tuple[str, str], str | None]:
    db = project / "var" / "state" / "autoflow.db"
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT dataset, day, meta_json FROM facts").fetchall()
    return {(dataset, day): meta for dataset, day, meta in rows}


def aged(path: Path, seconds: float = 60) -> Path:
    os.utime(path, (time.time() - seconds, time.time() - seconds), follow_symlinks=False)
    return path


def test_daemon_quarantines_every_bad_marker_stays_alive_and_still_takes_good_ones(
    project: Path, tmp_path: Path
) -> None:
    config = write_daemon_config(project)
    unreadable = cannot_drop_dac_override() is None
    daemon = (RestrictedDaemon(config) if unreadable else DaemonProcess(config)).start()
    inbox = project / "var" / "inbox"
    try:
        bad = [name for name, _, _ in BAD_KINDS]
        for name, make, _ in BAD_KINDS:
            make(inbox / name)
        if unreadable:  # made outside and renamed in, so the daemon never sees it readable
            staged = tmp_path / "calls_2026-12-03.ready"
            staged.write_text('{"rows": 1}', encoding="utf-8")
            staged.chmod(0)
            os.rename(staged, inbox / staged.name)
            bad.append(staged.name)
        (inbox / "calls_2026-11-24.ready").write_text('{"rows": 10}', encoding="utf-8")
        (inbox / "weather_2026-11-24.ready").touch()  # no workflow uses weather
        wait_for(lambda: len(facts(project)) == 2, 60, what="the two good markers as facts")
        wait_for(lambda: all((inbox / "rejected" / f"{n}.reason").exists() for n in bad), 60, what="every reason")
        assert daemon.process is not None and daemon.process.poll() is None, "the daemon is alive"
        assert facts(project) == {("calls", "2026-11-24"): '{"rows": 10}', ("weather", "2026-11-24"): None}
        assert entries(inbox) == []
        assert entries(inbox / "processed") == ["calls_2026-11-24.ready", "weather_2026-11-24.ready"]
        if unreadable:
            reason = (inbox / "rejected" / "calls_2026-12-03.ready.reason").read_text()
            assert "is unreadable: Permission denied" in reason
        rejected = {line["marker"] for line in daemon.events("inbox.marker.rejected")}
        assert rejected == set(bad) and {line["level"] for line in daemon.events("inbox.marker.rejected")} == {
            "warning"
        }
        accepted = [line["dataset"] for line in daemon.events("inbox.marker.accepted")]
        assert accepted == ["calls"], "weather is recorded, but its line is at debug level (not shown at info)"
    finally:
        assert daemon.stop() == 0


def test_markers_written_while_the_daemon_is_stopped_are_picked_up_at_start(project: Path) -> None:
    config = write_daemon_config(project)
    inbox = project / "var" / "inbox"
    first = DaemonProcess(config).start()
    try:
        (inbox / "calls_2026-11-22.ready").touch()
        wait_for(lambda: ("calls", "2026-11-22") in facts(project), 60, what="the first marker")
    finally:
        assert first.stop() == 0
    for day in ("2026-11-23", "2026-11-24"):  # dropped while no daemon runs
        (inbox / f"calls_{day}.ready").write_text('{"late": true}', encoding="utf-8")
        aged(inbox / f"calls_{day}.ready")
    (inbox / "sms_2026-11-31.ready").touch()  # an impossible date
    aged(inbox / "sms_2026-11-31.ready")
    second = DaemonProcess(config).start()  # READY comes after the start-up scan
    try:
        assert set(facts(project)) == {("calls", "2026-11-22"), ("calls", "2026-11-23"), ("calls", "2026-11-24")}
        assert entries(inbox) == []
        assert entries(inbox / "rejected") == ["sms_2026-11-31.ready", "sms_2026-11-31.ready.reason"]
        watching = second.events("inbox.watching")[0]
        assert (watching["found_at_start"], watching["rejected_at_start"]) == (2, 1)
    finally:
        assert second.stop() == 0


def test_polling_observer_set_in_the_config_picks_up_markers(project: Path) -> None:
    config = write_daemon_config(project, inbox_extra='observer = "polling"')
    daemon = DaemonProcess(config).start()
    try:
        assert daemon.events("inbox.watching")[0]["observer"] == "polling"
        inbox = project / "var" / "inbox"
        (inbox / ".calls_2026-11-24.ready.tmp").write_text('{"rows": 2}', encoding="utf-8")
        os.rename(inbox / ".calls_2026-11-24.ready.tmp", inbox / "calls_2026-11-24.ready")
        wait_for(lambda: facts(project).get(("calls", "2026-11-24")) == '{"rows": 2}', 60, what="the fact")
    finally:
        assert daemon.stop() == 0


def test_run_once_records_a_marker_touched_just_before_it(project: Path) -> None:
    config = write_daemon_config(project)
    inbox = project / "var" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "calls_2026-11-24.ready").write_text('{"rows": 4}', encoding="utf-8")  # younger than settle
    (inbox / "notes.txt").touch()
    result = cli(config, "run", "--once", timeout=120)
    assert result.returncode == 0, result.stderr
    assert facts(project) == {("calls", "2026-11-24"): '{"rows": 4}'}
    assert entries(inbox) == [] and (inbox / "rejected" / "notes.txt.reason").exists()


def test_sighup_applies_new_inbox_settings_and_loses_no_marker(project: Path) -> None:
    config = write_daemon_config(project)
    daemon = DaemonProcess(config).start()
    inbox = project / "var" / "inbox"
    try:
        write_daemon_config(project, inbox_extra='observer = "polling"')
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_event("config.reloaded", timeout=30)
        (inbox / "calls_2026-11-24.ready").touch()
        wait_for(lambda: ("calls", "2026-11-24") in facts(project), 30, what="the marker after the reload")
    finally:
        assert daemon.stop() == 0
    watches = [line["observer"] for line in daemon.events("inbox.watching")]
    assert watches == ["native", "polling"], "the inbox is watched anew with the reloaded settings"
    assert entries(inbox / "processed") == ["calls_2026-11-24.ready"]
