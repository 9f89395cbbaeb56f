"""Atomic publishing into the outbox: a reader never sees a half-written file.

Every file is first copied into a hidden staging folder on the outbox's own filesystem and
then renamed into place (rename is atomic within a filesystem); ``manifest.json`` goes
last, so its presence means the report folder is complete. A re-publish first removes the
old manifest, so a reader never takes a mix of old and new files for a complete report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

STAGING = ".staging"
FAILED = "_failed"
MANIFEST = "manifest.json"


def _staging_dir(outbox: Path) -> Path:
    folder = outbox / STAGING / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def publish_report(
    outbox: Path, workflow: str, reference_date: str, files: Sequence[Path], manifest: dict[str, Any]
) -> Path:
    """Publish ``files`` to ``outbox/<workflow>/<reference_date>/``, manifest last; return the folder."""
    target = outbox / workflow / reference_date
    staging = _staging_dir(outbox)
    try:
        outputs = []
        for source in files:
            staged = staging / source.name
            shutil.copyfile(source, staged)
            _fsync_file(staged)
            outputs.append({"path": source.name, "bytes": staged.stat().st_size, "sha256": _sha256(staged)})
        staged_manifest = staging / MANIFEST
        staged_manifest.write_text(json.dumps({**manifest, "outputs": outputs}, indent=2) + "\n", encoding="utf-8")
        _fsync_file(staged_manifest)
        target.mkdir(parents=True, exist_ok=True)
        (target / MANIFEST).unlink(missing_ok=True)  # from here on, the old report is no longer "complete"
        _fsync_dir(target)
        for output in outputs:
            os.replace(staging / output["path"], target / output["path"])
        keep = {o["path"] for o in outputs} | {MANIFEST}
        for stale in target.iterdir():
            if stale.name not in keep and stale.is_file():
                stale.unlink()
        _fsync_dir(target)
        os.replace(staged_manifest, target / MANIFEST)
        _fsync_dir(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_latest(outbox, workflow)
    return target


def publish_failure(
    outbox: Path, workflow: str, reference_date: str, run_id: str, files: Sequence[Path], error_text: str
) -> Path:
    """File one failed attempt under ``_failed/<workflow>/<date>/<run_id>/``, staged then renamed whole."""
    target = outbox / FAILED / workflow / reference_date / run_id
    staging = _staging_dir(outbox)
    try:
        for source in files:
            shutil.copyfile(source, staging / source.name)
        (staging / "error.txt").write_text(error_text, encoding="utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def read_manifest(outbox: Path, workflow: str, reference_date: str) -> dict[str, Any] | None:
    path = outbox / workflow / reference_date / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def clean_staging(outbox: Path) -> int:
    """Remove what a crash left in the staging folder; return how many entries went."""
    staging = outbox / STAGING
    if not staging.is_dir():
        return 0
    entries = list(staging.iterdir())
    for entry in entries:
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return len(entries)


def report_dates(outbox: Path, workflow: str) -> list[str]:
    """Dates with a complete report (a manifest), newest first."""
    folder = outbox / workflow
    if not folder.is_dir():
        return []
    return sorted((d.name for d in folder.iterdir() if (d / MANIFEST).is_file()), reverse=True)


def write_latest(outbox: Path, workflow: str) -> None:
    """``<workflow>/latest.json`` points at the newest complete report.

    A small JSON file rather than a symlink: SMB and some NFS exports do not show symlinks
    to readers, and replacing a file atomically works everywhere.
    """
    dates = report_dates(outbox, workflow)
    if not dates:
        return
    newest = dates[0]
    manifest = read_manifest(outbox, workflow, newest) or {}
    pointer = {
        "workflow": workflow,
        "reference_date": newest,
        "path": f"{newest}/",
        "run_id": manifest.get("run_id"),
        "manifest": f"{newest}/{MANIFEST}",
    }
    atomic_write_text(outbox / workflow / "latest.json", json.dumps(pointer, indent=2) + "\n")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def apply_retention(outbox: Path, keep_days: int, today: dt.date) -> list[Path]:
    """Remove report folders older than ``keep_days``; never the newest report of a workflow."""
    removed: list[Path] = []
    cutoff = today - dt.timedelta(days=keep_days)
    for workflow in sorted(p for p in outbox.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        dates = report_dates(outbox, workflow.name)
        for folder in sorted(p for p in workflow.iterdir() if p.is_dir()):
            try:
                day = dt.date.fromisoformat(folder.name)
            except ValueError:
                continue
            if day < cutoff and (not dates or folder.name != dates[0]):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed
