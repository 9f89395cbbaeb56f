"""Hostile markers and a hostile inbox, against the real daemon (issue 19, items 1 and 2).

A marker writer may write anything into the inbox: JSON nested 30,000 deep, names and
contents in any encoding, FIFOs and devices, and may replace the inbox's own ``processed/``
and ``rejected/`` folders by a symlink or a folder of their own. None of it stops the daemon
(at start, in ``run --once``, or while it runs), none of it holds back the good markers, and
the daemon never moves a marker through a folder that is not its own.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, cli, wait_for
from inbox_helpers import entries, write_daemon_config

pytestmark = pytest.mark.e2e

DEEP = b'{"a":' + b"[" * 30_000 + b"]" * 30_000 + b"}"


def facts(project: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(project / "var" / "state" / "autoflow.db") as conn:
        return set(conn.execute("SELECT dataset, day FROM facts").fetchall())


def plant_hostile_markers(inbox: Path) -> dict[str, str]:
    """Every kind of hostile marker, each sorting before a good one; name -> what its reason must say."""
    expected = {}
    (inbox / "calls_2026-11-01.ready").write_bytes(DEEP)
    expected["calls_2026-11-01.ready"] = "nested too deeply"
    (inbox / "calls_2026-11-02.ready").write_bytes('{"n": 1}'.encode("utf-16"))
    expected["calls_2026-11-02.ready"] = "holds invalid JSON"
    (inbox / "calls_2026-11-03.ready").write_text('{"n": ' + "9" * 5000 + "}", encoding="utf-8")
    expected["calls_2026-11-03.ready"] = "holds invalid JSON"
    (inbox / "calls_2026-11-04.ready").write_text('{"n": NaN}', encoding="utf-8")
    expected["calls_2026-11-04.ready"] = "holds invalid JSON"
    os.mkfifo(inbox / "calls_2026-11-05.ready")
    expected["calls_2026-11-05.ready"] = "not a regular file"
    try:
        os.mknod(inbox / "calls_2026-11-06.ready", 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
        expected["calls_2026-11-06.ready"] = "not a regular file"
    except PermissionError:
        pass  # not root here: the FIFO stands for special files
    bytes_name = os.fsencode(inbox) + b"/calls_\xff\xfe.ready"
    with open(bytes_name, "wb"):
        pass
    expected[os.fsdecode(b"calls_\xff\xfe.ready")] = "bad marker name"
    (inbox / "calls_2026-11-07.ready\n").touch()  # a trailing newline must not pass the name's pattern
    expected["calls_2026-11-07.ready\n"] = "bad marker name"
    return expected


def assert_rejected_with_reasons(inbox: Path, expected: dict[str, str]) -> None:
    for name, words in expected.items():
        reason = (inbox / "rejected" / f"{name}.reason").read_text(encoding="utf-8")
        assert words in reason, (name, reason)
        assert reason.count("\n") == 1, "one line"


def test_run_once_rejects_every_hostile_marker_and_records_the_good_ones_after_them(project: Path) -> None:
    config = write_daemon_config(project)
    inbox = project / "var" / "inbox"
    inbox.mkdir(parents=True)
    expected = plant_hostile_markers(inbox)
    (inbox / "calls_2026-11-24.ready").write_text('{"rows": 1}', encoding="utf-8")
    os.utime(inbox / "calls_2026-11-24.ready", (0, 0))  # settled long ago
    done = cli(config, "run", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert facts(project) == {("calls", "2026-11-24")}
    assert entries(inbox) == []
    assert entries(inbox / "processed") == ["calls_2026-11-24.ready"]
    assert_rejected_with_reasons(inbox, expected)


def test_the_running_daemon_rejects_a_deep_marker_once_and_reaches_the_markers_after_it(project: Path) -> None:
    config = write_daemon_config(project, rescan_interval="1s")
    daemon = DaemonProcess(config).start()
    inbox = project / "var" / "inbox"
    try:
        expected = plant_hostile_markers(inbox)
        (inbox / "calls_2026-11-24.ready").touch()
        (inbox / "sms_2026-11-24.ready").touch()
        wait_for(lambda: facts(project) == {("calls", "2026-11-24"), ("sms", "2026-11-24")}, 60, what="good facts")
        wait_for(lambda: entries(inbox) == [], 60, what="an empty inbox")
        assert_rejected_with_reasons(inbox, expected)
        assert daemon.process is not None and daemon.process.poll() is None
        rejected = [line["marker"] for line in daemon.events("inbox.marker.rejected")]
        assert sorted(rejected) == sorted(expected), "each one rejected once, never retried"
        assert not daemon.events("inbox.worker.error")
    finally:
        assert daemon.stop() == 0


def test_a_replaced_processed_or_rejected_folder_is_never_followed(project: Path, tmp_path: Path) -> None:
    config = write_daemon_config(project, rescan_interval="1s")
    inbox = project / "var" / "inbox"
    inbox.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"  # where a marker writer would like the daemon to write
    elsewhere.mkdir()
    (inbox / "processed").symlink_to(elsewhere)
    (inbox / "rejected").mkdir()
    os.chown(inbox / "rejected", 65534, 65534)  # a folder of someone else's in place of the daemon's
    daemon = DaemonProcess(config).start()
    try:
        (inbox / "calls_2026-11-24.ready").write_text('{"rows": 3}', encoding="utf-8")
        (inbox / "notes.txt").write_text("not a marker", encoding="utf-8")
        wait_for(lambda: ("calls", "2026-11-24") in facts(project), 60, what="the good marker's fact, all the same")
        wait_for(lambda: daemon.events("inbox.marker.rejected"), 60, what="the bad marker's warning")
        (inbox / "calls_2026-11-25.ready").touch()  # later markers: the refusal is not said again
        wait_for(lambda: ("calls", "2026-11-25") in facts(project), 60, what="a later marker's fact")
        assert os.listdir(elsewhere) == [] and os.listdir(inbox / "rejected") == [], "nothing moved through them"
        assert entries(inbox) == ["calls_2026-11-24.ready", "calls_2026-11-25.ready", "notes.txt"], "left in place"
        refused = daemon.events("inbox.folder.refused")
        assert sorted(line["folder"] for line in refused) == [str(inbox / "processed"), str(inbox / "rejected")]
        assert "symlink" in refused[0]["problem"] or "symlink" in refused[1]["problem"]
        assert len(daemon.events("inbox.marker.rejected")) == 1, "the bad marker is said once"
        (inbox / "processed").unlink()  # the operator repairs the inbox: the daemon makes its own folders
        shutil.rmtree(inbox / "rejected")
        wait_for(lambda: entries(inbox) == [], 60, what="the markers moved at the next rescan")
        assert entries(inbox / "processed") == ["calls_2026-11-24.ready", "calls_2026-11-25.ready"]
        assert json.loads((inbox / "processed" / "calls_2026-11-24.ready").read_text()) == {"rows": 3}
        assert os.path.exists(inbox / "rejected" / "notes.txt.reason")
        assert daemon.events("inbox.folder.usable_again")
    finally:
        assert daemon.stop() == 0
