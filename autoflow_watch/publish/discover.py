"""What the outbox holds, read from disk: report folders and filed failed attempts.

The index is built from the run records *and* from this, so it stays right when the
records do not know a folder: another daemon's outbox, a restored backup, a store that
was reset, or runs recorded before a reinstall.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoflow_watch.publish.staging import FAILED, MANIFEST, is_date_name


@dataclass
class ReportFolder:
    """``<workflow>/<date>/``: complete when its manifest is there."""

    workflow: str
    reference_date: str
    manifest: dict[str, Any] | None  # None: incomplete (being published, or interrupted)
    outputs: list[str] = field(default_factory=list)  # paths relative to the outbox


@dataclass
class FailedAttempt:
    """``_failed/<workflow>/<date>/<run_id>/`` and the files filed in it."""

    workflow: str
    reference_date: str
    run_id: str
    filed_at: float
    files: list[str] = field(default_factory=list)  # paths relative to the outbox


def _manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _folders(parent: Path) -> list[Path]:
    try:
        return [p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []


def scan_reports(outbox: Path) -> dict[tuple[str, str], ReportFolder]:
    """Every report folder, keyed by (workflow, reference date)."""
    found: dict[tuple[str, str], ReportFolder] = {}
    for workflow in _folders(outbox):
        if workflow.name.startswith("_"):
            continue
        for day in _folders(workflow):
            if not is_date_name(day.name):
                continue
            manifest = _manifest(day)
            report = ReportFolder(workflow.name, day.name, manifest)
            if manifest is not None:
                for output in manifest.get("outputs", []):
                    path = output.get("path") if isinstance(output, dict) else None
                    if isinstance(path, str) and (day / path).is_file():
                        report.outputs.append(f"{workflow.name}/{day.name}/{path}")
            found[(workflow.name, day.name)] = report
    return found


def scan_failures(outbox: Path) -> dict[tuple[str, str], list[FailedAttempt]]:
    """Every filed failed attempt, keyed by (workflow, reference date), newest first."""
    found: dict[tuple[str, str], list[FailedAttempt]] = {}
    for workflow in _folders(outbox / FAILED):
        for day in _folders(workflow):
            if not is_date_name(day.name):
                continue
            for attempt in _folders(day):
                try:
                    filed_at = attempt.stat().st_mtime
                    names = sorted(p.name for p in attempt.iterdir() if p.is_file() and not p.name.startswith("."))
                except OSError:
                    continue
                prefix = f"{FAILED}/{workflow.name}/{day.name}/{attempt.name}"
                failure = FailedAttempt(
                    workflow.name, day.name, attempt.name, filed_at, [f"{prefix}/{n}" for n in names]
                )
                found.setdefault((workflow.name, day.name), []).append(failure)
    for attempts in found.values():
        attempts.sort(key=lambda a: a.filed_at, reverse=True)
    return found
