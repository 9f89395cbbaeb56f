"""One workflow's folders in the outbox, as they are on disk: report folders and filed failed attempts.

The pages are built from the run records *and* from this, so they show what is really there:
a report another daemon published, one retention removed, a folder being published. Only the
workflow's own folders are listed (one ``scandir`` per date), no manifest is read: the cost is
in proportion to that workflow's dates. Anything that is not what the outbox holds (a file
where a folder should be, a folder named ``2026-13-45``, an unreadable entry) is skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from autoflow_watch.publish.staging import FAILED, MANIFEST, is_date_name


@dataclass(frozen=True)
class DiskReport:
    """``<workflow>/<date>/``: its files (names), complete when the manifest is among them."""

    files: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return MANIFEST in self.files

    @property
    def outputs(self) -> list[str]:
        """The report's files, the manifest aside."""
        return [name for name in self.files if name != MANIFEST]


@dataclass(frozen=True)
class DiskFailure:
    """``_failed/<workflow>/<date>/<run_id>/``: one filed failed attempt and its files (names)."""

    run_id: str
    filed_at: float
    files: tuple[str, ...]


@dataclass
class WorkflowDisk:
    """What the outbox holds for one workflow."""

    reports: dict[str, DiskReport] = field(default_factory=dict)  # by reference date
    failures: dict[str, list[DiskFailure]] = field(default_factory=dict)  # by date, newest first
    latest_html: bool = False
    latest_json: bool = False


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as found:
            return [e for e in found if not e.name.startswith(".")]
    except OSError:
        return []


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


# folder -> (its mtime, its files): a folder's mtime changes whenever a name in it is added, removed
# or renamed over, so an unchanged folder is not listed again (one stat instead of a listing).
_LISTED: dict[str, tuple[int, tuple[str, ...]]] = {}
_LISTED_MAX = 500_000


def _files_of(entry: os.DirEntry[str]) -> tuple[str, ...]:
    try:
        stamp = entry.stat(follow_symlinks=False).st_mtime_ns
    except OSError:
        return ()
    known = _LISTED.get(entry.path)
    if known is not None and known[0] == stamp:
        return known[1]
    files = _files(Path(entry.path))
    if len(_LISTED) >= _LISTED_MAX:
        _LISTED.clear()
    _LISTED[entry.path] = (stamp, files)
    return files


def _files(folder: Path) -> tuple[str, ...]:
    names = []
    for entry in _entries(folder):
        try:
            if entry.is_file(follow_symlinks=False):
                names.append(entry.name)
        except OSError:
            continue
    return tuple(sorted(names))


def scan_workflow(outbox: Path, workflow: str) -> WorkflowDisk:
    """Every report folder and filed failure of ``workflow``."""
    disk = WorkflowDisk()
    for entry in _entries(outbox / workflow):
        if _is_dir(entry) and is_date_name(entry.name):
            disk.reports[entry.name] = DiskReport(_files_of(entry))
        elif entry.name in ("latest.html", "latest.json"):
            setattr(disk, entry.name.replace(".", "_"), True)
    for day in _entries(outbox / FAILED / workflow):
        if not (_is_dir(day) and is_date_name(day.name)):
            continue
        attempts = []
        for attempt in _entries(Path(day.path)):
            if not _is_dir(attempt):
                continue
            try:
                filed_at = attempt.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            attempts.append(DiskFailure(attempt.name, filed_at, _files_of(attempt)))
        if attempts:
            disk.failures[day.name] = sorted(attempts, key=lambda a: a.filed_at, reverse=True)
    return disk


def disk_workflows(outbox: Path) -> list[str]:
    """Workflow folders in the outbox (with a date folder of reports or failures), whatever the store says."""
    names = {e.name for e in _entries(outbox) if _is_dir(e) and not e.name.startswith("_") and _has_dates(Path(e.path))}
    names |= {e.name for e in _entries(outbox / FAILED) if _is_dir(e) and _has_dates(Path(e.path))}
    return sorted(names)


def _has_dates(folder: Path) -> bool:
    """Whether a folder holds a reference date's folder (a workflow's), not just anything."""
    return any(is_date_name(e.name) and _is_dir(e) for e in _entries(folder))
