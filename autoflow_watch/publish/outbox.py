"""Publishing reports into the outbox: complete or not at all.

``outbox/<workflow>/<reference_date>/`` holds a run's reports and ``manifest.json``, its
presence meaning "complete" (docs/outbox.md). The folder is staged whole and swapped in by one
atomic operation (:mod:`autoflow_watch.publish.staged`), so a reader sees the old complete
report or the new one, never neither and never a mix, also when a rerun replaces it.
Failed attempts go, whole, to ``outbox/_failed/<workflow>/<reference_date>/<run_id>/``, their
executed notebooks cleaned of absolute paths and secrets like published ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoflow_watch.publish.latest import complete_dates
from autoflow_watch.publish.retention import apply_retention
from autoflow_watch.publish.staged import SCHEMA_VERSION, stage_files, stage_report, swap_in
from autoflow_watch.publish.staging import (
    FAILED,
    MANIFEST,
    STAGING,
    atomic_write_text,
    check_component,
    clean_staging,
    discard,
    fsync_dir,
    fsync_file,
    is_date_name,
    staging_dir,
)

__all__ = [
    "FAILED",
    "MANIFEST",
    "SCHEMA_VERSION",
    "STAGING",
    "apply_retention",
    "atomic_write_text",
    "clean_staging",
    "publish_failure",
    "publish_report",
    "read_manifest",
    "report_dates",
]


def _check_names(files: Sequence[Path], reserved: set[str]) -> None:
    names = [Path(f).name for f in files]
    for name in names:
        if name in reserved or name.startswith(".") or names.count(name) > 1:
            raise ValueError(f"cannot publish {name!r}: reserved, hidden or given twice")


def publish_report(
    outbox: Path, workflow: str, reference_date: str, files: Sequence[Path], manifest: dict[str, Any]
) -> Path:
    """Publish ``files`` to ``outbox/<workflow>/<reference_date>/`` at once, unfenced; return the folder.

    The daemon stages and swaps in two steps with the store's fence between them
    (:mod:`autoflow_watch.daemon.publishing`); this is both steps at once, for callers without a store.
    """
    stage_report(outbox, workflow, reference_date, files, manifest)
    swap_in(outbox, workflow, reference_date, str(manifest["run_id"]))
    return outbox / workflow / reference_date


def publish_failure(
    outbox: Path, workflow: str, reference_date: str, run_id: str, files: Sequence[Path], error_text: str
) -> Path:
    """File one failed attempt under ``_failed/<workflow>/<date>/<run_id>/``, staged then renamed whole."""
    check_component(workflow, "workflow")
    check_component(run_id, "run id")
    if not is_date_name(reference_date):
        raise ValueError(f"reference date {reference_date!r} is not YYYY-MM-DD")
    _check_names(files, {"error.txt"})
    target = outbox / FAILED / workflow / reference_date / run_id
    staging = staging_dir(outbox)
    try:
        stage_files(files, staging, clean_notebooks=True)
        (staging / "error.txt").write_text(error_text, encoding="utf-8")
        fsync_file(staging / "error.txt")
        fsync_dir(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # the same attempt filed again (recovery): the new filing wins
            discard(outbox, target)
        os.replace(staging, target)
        fsync_dir(target.parent)
    finally:
        if staging.exists():
            discard(outbox, staging)
    return target


def read_manifest(outbox: Path, workflow: str, reference_date: str) -> dict[str, Any] | None:
    """The manifest of a complete report, or None (no report, being replaced, or unreadable)."""
    path = outbox / workflow / reference_date / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def report_dates(outbox: Path, workflow: str) -> list[str]:
    """Reference dates of ``workflow`` with a complete report (a manifest), newest first."""
    return complete_dates(outbox, workflow)
