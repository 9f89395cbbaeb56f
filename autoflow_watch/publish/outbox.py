"""Publishing reports into the outbox: complete or not at all.

``outbox/<workflow>/<reference_date>/`` holds a run's reports and ``manifest.json``; the
manifest is renamed into place last, so its presence means "complete" (docs/outbox.md).
A re-publish (a rerun) first removes the old manifest, so from then on readers see an
incomplete folder rather than a mix of old and new files taken for a report.
Failed attempts go, whole, to ``outbox/_failed/<workflow>/<reference_date>/<run_id>/``, their
executed notebooks cleaned of absolute paths and secrets like published ones.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autoflow_watch.publish.latest import complete_dates, write_latest
from autoflow_watch.publish.retention import apply_retention
from autoflow_watch.publish.staging import (
    FAILED,
    LATEST_HTML,
    LATEST_JSON,
    MANIFEST,
    STAGING,
    atomic_write_text,
    check_component,
    clean_staging,
    discard,
    fsync_dir,
    fsync_file,
    is_date_name,
    sha256_of,
    staging_dir,
)
from autoflow_watch.secrets import redact_text

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

SCHEMA_VERSION = 1
_RESERVED = {MANIFEST, LATEST_JSON, LATEST_HTML, "error.txt"}


def _check_names(files: Sequence[Path], reserved: set[str]) -> None:
    names = [Path(f).name for f in files]
    for name in names:
        if name in reserved or name.startswith(".") or names.count(name) > 1:
            raise ValueError(f"cannot publish {name!r}: reserved, hidden or given twice")


def _stage(files: Sequence[Path], staging: Path, *, clean_notebooks: bool = False) -> list[dict[str, Any]]:
    """Copy ``files`` into ``staging`` durably; describe each as the manifest's ``outputs`` do.

    ``clean_notebooks``: an executed notebook is copied without absolute paths and secrets
    (what :func:`autoflow_watch.render.ipynb.clean_notebook` does for published notebooks);
    a failed attempt's notebook comes straight from the run folder, as papermill wrote it.
    """
    outputs = []
    for source in files:
        staged = staging / Path(source).name
        if clean_notebooks and staged.suffix == ".ipynb":
            _clean_copy(Path(source), staged)
        else:
            shutil.copyfile(source, staged)
        fsync_file(staged)
        outputs.append({"path": staged.name, "bytes": staged.stat().st_size, "sha256": sha256_of(staged)})
    return outputs


def _clean_copy(source: Path, staged: Path) -> None:
    """A notebook without paths and secrets; one nbformat cannot read still loses its secrets."""
    from autoflow_watch.render.ipynb import clean_notebook

    try:
        clean_notebook(source, staged)
    except (ValueError, OSError, KeyError, AttributeError, TypeError):
        text = source.read_text(encoding="utf-8", errors="replace")
        staged.write_text(redact_text(text), encoding="utf-8")


def publish_report(
    outbox: Path, workflow: str, reference_date: str, files: Sequence[Path], manifest: dict[str, Any]
) -> Path:
    """Publish ``files`` to ``outbox/<workflow>/<reference_date>/``, manifest last; return the folder."""
    check_component(workflow, "workflow")
    if not is_date_name(reference_date):
        raise ValueError(f"reference date {reference_date!r} is not YYYY-MM-DD")
    _check_names(files, _RESERVED)
    target = outbox / workflow / reference_date
    staging = staging_dir(outbox)
    try:
        outputs = _stage(files, staging)
        document = {"schema_version": SCHEMA_VERSION, **manifest, "outputs": outputs}
        staged_manifest = staging / MANIFEST
        staged_manifest.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        fsync_file(staged_manifest)
        target.mkdir(parents=True, exist_ok=True)
        if (target / MANIFEST).exists():
            (target / MANIFEST).unlink()  # from here on the old report no longer counts as complete
            fsync_dir(target)
        for output in outputs:
            os.replace(staging / output["path"], target / output["path"])
        _remove_stale(outbox, target, {o["path"] for o in outputs})
        fsync_dir(target)
        os.replace(staged_manifest, target / MANIFEST)
        fsync_dir(target)
        fsync_dir(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_latest(outbox, workflow)
    return target


def _remove_stale(outbox: Path, target: Path, keep: set[str]) -> None:
    """Remove what an earlier report left that this one does not have (hidden files are readers')."""
    for entry in target.iterdir():
        if entry.name in keep or entry.name == MANIFEST or entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            discard(outbox, entry)
        else:
            entry.unlink(missing_ok=True)


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
        _stage(files, staging, clean_notebooks=True)
        (staging / "error.txt").write_text(error_text, encoding="utf-8")
        fsync_file(staging / "error.txt")
        fsync_dir(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():  # the same attempt filed again (recovery): the new filing wins
            discard(outbox, target)
        os.replace(staging, target)
        fsync_dir(target.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
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
