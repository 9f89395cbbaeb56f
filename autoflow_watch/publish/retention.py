"""``[outbox] keep_days``: remove old report folders, never the newest report of a workflow.

A report folder goes when *both* its reference date and the day it was published are more
than ``keep_days`` before today. For daily reports the two are the same day; the second
condition protects a backfill — reports for last year's dates published this morning are
kept ``keep_days`` like any other, instead of vanishing within the hour.
Failed attempts (``_failed/``) older than ``keep_days`` go the same way. A folder is renamed
into the staging area before it is deleted, so readers see it complete or not at all.
Daemons sharing an outbox may apply retention at the same moment: a folder one of them
removed is skipped by the others (each reports only what it removed itself).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from autoflow_watch.logs import get_logger
from autoflow_watch.publish.latest import complete_dates
from autoflow_watch.publish.staged import remove_report
from autoflow_watch.publish.staging import FAILED, MANIFEST, discard, is_date_name

log = get_logger("autoflow_watch.retention")


def _published_on(folder: Path) -> dt.date | None:
    """The day a report was published: its manifest's ``finished_at``, else the manifest's mtime."""
    manifest = folder / MANIFEST
    try:
        finished = json.loads(manifest.read_text(encoding="utf-8")).get("finished_at")
        if isinstance(finished, str):
            return dt.datetime.fromisoformat(finished.replace("Z", "+00:00")).astimezone().date()
    except (OSError, ValueError, AttributeError, OverflowError):
        pass
    try:
        return dt.date.fromtimestamp((manifest if manifest.exists() else folder).stat().st_mtime)
    except (OSError, ValueError, OverflowError):
        return None


def _workflow_folders(outbox: Path) -> list[Path]:
    return sorted(p for p in _entries(outbox) if p.is_dir() and not p.name.startswith((".", "_")))


def _old_reports(outbox: Path, workflow: Path, cutoff: dt.date) -> list[Path]:
    dates = sorted((p for p in _entries(workflow) if p.is_dir() and is_date_name(p.name)), key=lambda p: p.name)
    complete = complete_dates(outbox, workflow.name)
    protected = complete[0] if complete else (dates[-1].name if dates else None)
    old = []
    for folder in dates:
        if folder.name == protected or dt.date.fromisoformat(folder.name) >= cutoff:
            continue
        published = _published_on(folder)
        if published is None or published < cutoff:
            old.append(folder)
    return old


def _old_failures(outbox: Path, cutoff: dt.date) -> list[Path]:
    old: list[Path] = []
    root = outbox / FAILED
    if not root.is_dir():
        return old
    for workflow in sorted(p for p in _entries(root) if p.is_dir()):
        for day in sorted(p for p in _entries(workflow) if p.is_dir() and is_date_name(p.name)):
            if dt.date.fromisoformat(day.name) >= cutoff:
                continue
            for attempt in sorted(p for p in _entries(day) if p.is_dir()):
                try:
                    filed = dt.date.fromtimestamp(attempt.stat().st_mtime)
                except (OSError, ValueError, OverflowError):
                    continue  # removed meanwhile by another daemon's retention, or a time beyond reckoning
                if filed < cutoff:
                    old.append(attempt)
    return old


def _entries(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError:  # removed meanwhile, a file where a folder was expected, unreadable
        return []


def _prune_empty(folder: Path, stop: Path) -> None:
    while folder != stop and folder.is_dir() and not _entries(folder):
        try:
            folder.rmdir()
        except OSError:  # filled or removed meanwhile by another daemon
            return
        folder = folder.parent


def apply_retention(outbox: Path, keep_days: int, today: dt.date) -> list[Path]:
    """Remove report folders and failed attempts older than ``keep_days``; return what was removed."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    cutoff = today - dt.timedelta(days=keep_days)
    removed: list[Path] = []
    for workflow in _workflow_folders(outbox):
        try:
            old = _old_reports(outbox, workflow, cutoff)
        except (OSError, ValueError) as error:  # one odd workflow folder never stops the others
            log.warning("outbox.retention.skipped", folder=str(workflow), error=str(error))
            continue
        removed.extend(folder for folder in old if _discard(outbox, folder, report=True))
    for attempt in _old_failures(outbox, cutoff):
        if _discard(outbox, attempt):
            removed.append(attempt)
        _prune_empty(attempt.parent, outbox / FAILED)
    return removed


def _discard(outbox: Path, folder: Path, *, report: bool = False) -> bool:
    try:  # a report link goes with its version folder
        return remove_report(outbox, folder) if report else discard(outbox, folder)
    except OSError as error:  # e.g. the staging area is not a folder: said, and tried again next time
        log.warning("outbox.retention.skipped", folder=str(folder), error=str(error))
        return False
