"""``[outbox] keep_days``: old report folders and failed attempts go, the newest report never does."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from outbox_helpers import manifest, report_files

from autoflow_watch.publish.outbox import apply_retention, publish_failure, publish_report

TODAY = dt.date(2026, 12, 10)


def _publish(outbox: Path, workflow: str, day: str, published_on: str) -> Path:
    files = report_files(outbox.parent / "work" / workflow / day)
    finished = f"{published_on}T06:00:00+00:00"
    return publish_report(outbox, workflow, day, files, manifest(workflow, day, f"run-{day}", finished))


def _dates(outbox: Path, workflow: str) -> list[str]:
    return sorted(p.name for p in (outbox / workflow).iterdir() if p.is_dir())


def test_reports_older_than_keep_days_go_recent_ones_stay(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    for day in ("2026-11-01", "2026-11-20", "2026-12-05", "2026-12-09"):
        _publish(outbox, "daily", day, day)
    removed = apply_retention(outbox, keep_days=7, today=TODAY)
    assert _dates(outbox, "daily") == ["2026-12-05", "2026-12-09"]
    assert sorted(p.name for p in removed) == ["2026-11-01", "2026-11-20"]
    assert list((outbox / ".staging").iterdir()) == [], "removed folders do not linger in staging"
    assert (outbox / "daily" / "latest.json").is_file()


def test_the_newest_report_of_a_workflow_is_kept_however_old(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    for day in ("2026-01-01", "2026-02-01"):
        _publish(outbox, "monthly", day, day)
    _publish(outbox, "yearly", "2025-12-31", "2025-12-31")
    apply_retention(outbox, keep_days=30, today=TODAY)
    assert _dates(outbox, "monthly") == ["2026-02-01"], "the newest complete one stays"
    assert _dates(outbox, "yearly") == ["2025-12-31"], "a workflow's only report stays"


def test_the_newest_complete_report_is_kept_when_a_newer_one_is_incomplete(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    _publish(outbox, "daily", "2026-10-01", "2026-10-01")
    (outbox / "daily" / "2026-10-02").mkdir()  # publishing was interrupted: no manifest
    old = dt.datetime(2026, 10, 2).timestamp()
    os.utime(outbox / "daily" / "2026-10-02", (old, old))
    apply_retention(outbox, keep_days=7, today=TODAY)
    assert "2026-10-01" in _dates(outbox, "daily")


def test_a_backfilled_report_for_an_old_date_is_kept_keep_days_after_it_was_published(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    _publish(outbox, "daily", "2026-12-09", "2026-12-09")
    _publish(outbox, "daily", "2025-06-01", "2026-12-08")  # backfill, published two days ago
    _publish(outbox, "daily", "2025-06-02", "2025-06-02")
    apply_retention(outbox, keep_days=7, today=TODAY)
    assert _dates(outbox, "daily") == ["2025-06-01", "2026-12-09"]


def test_old_failed_attempts_go_and_their_empty_folders_with_them(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    files = report_files(tmp_path / "work", names=("report.ipynb",))
    old = publish_failure(outbox, "daily", "2026-11-01", "run-old", files, "boom")
    recent = publish_failure(outbox, "daily", "2026-12-08", "run-new", files, "boom")
    stamp = dt.datetime(2026, 11, 1, 6).timestamp()
    os.utime(old, (stamp, stamp))
    apply_retention(outbox, keep_days=7, today=TODAY)
    assert not old.exists() and not old.parent.exists(), "the attempt and its emptied date folder"
    assert recent.is_dir()


def test_keep_days_must_be_at_least_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep_days"):
        apply_retention(tmp_path, keep_days=0, today=TODAY)
