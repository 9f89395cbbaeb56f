"""Whatever is found in the outbox never stops a tick, retention or the index (issue 19, item 4).

The outbox is a shared folder: people and other tools put things there. A folder named like
an impossible date, files where folders were expected and folders where files were expected
are passed over; the daemon publishes, keeps ``keep_days`` and writes the index as always.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from daemon_process import cli
from project_files import write_config

pytestmark = pytest.mark.e2e


def plant_junk(outbox: Path) -> None:
    (outbox / "daily" / "2026-13-45").mkdir(parents=True)  # a "date" no calendar has
    (outbox / "daily" / "2026-02-30").mkdir()
    (outbox / "daily" / "2026-01-01").write_text("a file where a report folder was expected")
    (outbox / "daily" / "2026-01-02" / "manifest.json").mkdir(parents=True)  # a folder where a file was
    (outbox / "_failed").write_text("a file where the failures folder was expected")
    (outbox / "notes.txt").write_text("someone's notes")
    (outbox / "elsewhere").symlink_to("/nonexistent/target")
    (outbox / "9999-99-99").mkdir()


def plant_old_report(outbox: Path, day: str) -> Path:
    old = outbox / "daily" / day
    old.mkdir(parents=True)
    (old / "report.html").write_text("<p>old</p>")
    (old / "manifest.json").write_text(json.dumps({"finished_at": "2020-01-02T00:00:00+00:00"}))
    long_ago = time.time() - 3 * 365 * 86400
    for path in (old / "report.html", old / "manifest.json", old):
        os.utime(path, (long_ago, long_ago))
    return old


def test_run_once_publishes_applies_retention_and_writes_the_index_past_a_hostile_outbox(project: Path) -> None:
    config = write_config(project, extra="\n[outbox]\nkeep_days = 30\n", report_formats='["html"]')
    outbox, inbox = project / "var" / "outbox", project / "var" / "inbox"
    inbox.mkdir(parents=True)
    plant_junk(outbox)
    old = plant_old_report(outbox, "2020-01-01")
    newest_old = plant_old_report(outbox, "2020-01-05")  # the newest complete one at first: kept
    for day in ("2026-11-23", "2026-11-24"):
        (inbox / f"calls_{day}.ready").touch()
        os.utime(inbox / f"calls_{day}.ready", (0, 0))
    done = cli(config, "run", "--once")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert (outbox / "daily" / "2026-11-24" / "manifest.json").is_file(), "published"
    assert not old.exists() and newest_old.exists(), "retention removed the old report"
    assert (outbox / "daily" / "2026-13-45").is_dir() and (outbox / "_failed").is_file(), "junk left alone"
    index = (outbox / "index.html").read_text(encoding="utf-8")
    assert "2026-11-24" in index and "2026-13-45" not in index
    status = json.loads(cli(config, "status", "--json").stdout)
    assert [(r["reference_date"], r["state"]) for r in status] == [("2026-11-24", "succeeded")]
