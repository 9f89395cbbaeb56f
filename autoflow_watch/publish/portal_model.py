"""One workflow's history as the pages and ``index.json`` show it: run records and disk, merged.

Each (workflow, reference date) becomes a :class:`DateEntry`: its state, attempts, times, the
report's files, the failure pages of its failed attempts and its scraps. A date the store does
not know (another daemon's report, a restored backup) comes from its folder; a report the
store knows but retention removed shows as removed. Paths are relative to the outbox.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoflow_watch.publish.portal_disk import DiskReport, WorkflowDisk
from autoflow_watch.publish.staging import FAILED, MANIFEST
from autoflow_watch.store.portal import HistoryRow

FAILURE_PAGE = "index.html"


class DateState(str, enum.Enum):
    """A date's state on the pages: the run's, or ``incomplete`` for a folder without manifest or record."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    INCOMPLETE = "incomplete"

    @property
    def glyph(self) -> str:
        """A shape per state, so that state is never told by colour alone."""
        return _GLYPHS[self]


_GLYPHS = {
    DateState.PENDING: "○",
    DateState.RUNNING: "▶",
    DateState.SUCCEEDED: "✓",
    DateState.FAILED: "✗",
    DateState.DEAD: "☠",
    DateState.INCOMPLETE: "?",
}


@dataclass(frozen=True)
class FailedAttemptLink:
    """A failed attempt filed under ``_failed/``: its failure page and files."""

    run_id: str
    attempt: int | None
    page: str | None  # the failure page, when it was written (older attempts have only their files)
    files: list[str]
    filed_at: float


@dataclass(frozen=True)
class ReportLinks:
    """The report folder of a date: complete (manifest there) or being published."""

    folder: str
    complete: bool
    files: list[str]
    manifest: str | None
    earlier_run: bool  # still there from an earlier run while this date's newest run did not succeed


@dataclass
class DateEntry:
    """One date of a workflow's history."""

    reference_date: str
    state: DateState
    attempts: int
    run_id: str | None
    started_at: float | None
    finished_at: float | None
    error: str | None
    report: ReportLinks | None = None
    removed: bool = False  # succeeded once, report no longer on disk (retention)
    failed: list[FailedAttemptLink] = field(default_factory=list)
    scraps: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None or self.state is DateState.RUNNING:
            return None
        return max(0.0, self.finished_at - self.started_at)


def _report(workflow: str, date: str, disk: DiskReport, state: DateState) -> ReportLinks:
    folder = f"{workflow}/{date}/"
    return ReportLinks(
        folder,
        disk.complete,
        [folder + name for name in disk.outputs],
        folder + MANIFEST if disk.complete else None,
        disk.complete and state is not DateState.SUCCEEDED,
    )


def _failed(workflow: str, date: str, disk: WorkflowDisk, numbers: dict[str, int]) -> list[FailedAttemptLink]:
    links = []
    for failure in disk.failures.get(date, []):
        prefix = f"{FAILED}/{workflow}/{date}/{failure.run_id}/"
        page = prefix + FAILURE_PAGE if FAILURE_PAGE in failure.files else None
        files = [prefix + name for name in failure.files if name != FAILURE_PAGE]
        links.append(FailedAttemptLink(failure.run_id, numbers.get(failure.run_id), page, files, failure.filed_at))
    return links


def _from_disk(outbox: Path, workflow: str, date: str, disk: WorkflowDisk) -> DateEntry:
    """A date only the disk knows: complete report, filed failures, or a folder being published."""
    report = disk.reports.get(date)
    failures = disk.failures.get(date, [])
    started = finished = None
    if report is not None and report.complete:
        state = DateState.SUCCEEDED
        started, finished = _manifest_times(outbox / workflow / date / MANIFEST)
    else:
        state = DateState.FAILED if failures else DateState.INCOMPLETE
        finished = failures[0].filed_at if failures else None
    return DateEntry(date, state, len(failures) + int(state is DateState.SUCCEEDED), None, started, finished, None)


def _manifest_times(path: Path) -> tuple[float | None, float | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    return _epoch(data.get("started_at")), _epoch(data.get("finished_at"))


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def build_entries(outbox: Path, workflow: str, rows: list[HistoryRow], disk: WorkflowDisk) -> list[DateEntry]:
    """Every date of ``workflow``, newest first, from its run records and its folders."""
    entries: dict[str, DateEntry] = {}
    numbers: dict[str, int] = {}
    for row in rows:
        entries[row.reference_date] = DateEntry(
            row.reference_date,
            DateState(row.state),
            row.attempts,
            row.run_id,
            row.started_at,
            row.finished_at,
            row.error,
            scraps=row.scraps,
        )
        numbers.update({a.run_id: a.number for a in row.failed})
    for date in set(disk.reports) | set(disk.failures):
        if date not in entries:
            entries[date] = _from_disk(outbox, workflow, date, disk)
    for date, entry in entries.items():
        report = disk.reports.get(date)
        if report is not None:
            entry.report = _report(workflow, date, report, entry.state)
        entry.removed = report is None and entry.state is DateState.SUCCEEDED
        entry.failed = _failed(workflow, date, disk, numbers)
    return sorted(entries.values(), key=lambda e: e.reference_date, reverse=True)
