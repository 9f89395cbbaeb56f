"""A report staged whole, waiting for the store to confirm its claim, then swapped in at once.

A finished report is copied, with its manifest, into ``outbox/.pending/<run_id>/`` (built in
``.staging/`` and renamed there, so a pending entry is always complete). Only once the store has
recorded the success under a current claim is it swapped into ``outbox/<workflow>/<date>/``
(:mod:`autoflow_watch.publish.swap`). The name is the run id, so whoever finds an entry (the
daemon that staged it, or recovery on any daemon after a crash) can ask the store what became of
its attempt: recorded as succeeded → swap it in; taken over or expired → discard it.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoflow_watch.publish.latest import write_latest
from autoflow_watch.publish.staging import (
    MANIFEST,
    STAGING,
    check_component,
    discard,
    fsync_dir,
    fsync_file,
    is_date_name,
    sha256_of,
    staging_dir,
    staging_name,
)
from autoflow_watch.publish.swap import (
    UNSUPPORTED,
    SwapMode,
    exchange,
    exchange_supported,
    link_target,
    swap_by_link,
    version_name,
)
from autoflow_watch.secrets import redact_text

PENDING = ".pending"
SCHEMA_VERSION = 1
RESERVED = {MANIFEST, "latest.json", "latest.html", "error.txt"}


class SwapResult(str, enum.Enum):
    """What :func:`swap_in` found and did."""

    SWAPPED = "swapped"  # the staged report is now the report folder
    ALREADY = "already"  # the report folder was this run's already (a crash after the swap, or a peer)
    MISSING = "missing"  # nothing staged for this run id


def pending_dir(outbox: Path, run_id: str) -> Path:
    return outbox / PENDING / check_component(run_id, "run id")


def manifest_run_id(folder: Path) -> str | None:
    """The ``run_id`` of the manifest in ``folder`` (following a report link), or None."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("run_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def _check_names(files: Sequence[Path]) -> None:
    names = [Path(f).name for f in files]
    for name in names:
        if name in RESERVED or name.startswith(".") or names.count(name) > 1:
            raise ValueError(f"cannot publish {name!r}: reserved, hidden or given twice")


def stage_files(files: Sequence[Path], staging: Path, *, clean_notebooks: bool = False) -> list[dict[str, Any]]:
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


def stage_report(
    outbox: Path, workflow: str, reference_date: str, files: Sequence[Path], manifest: dict[str, Any]
) -> tuple[Path, bool]:
    """Stage the whole report folder under ``.pending/<run_id>``; return it and whether it is new.

    A report already staged for this run id (the store was away when it was first concluded)
    is kept as it is.
    """
    check_component(workflow, "workflow")
    if not is_date_name(reference_date):
        raise ValueError(f"reference date {reference_date!r} is not YYYY-MM-DD")
    _check_names(files)
    run_id = str(manifest["run_id"])
    target = pending_dir(outbox, run_id)
    if manifest_run_id(target) == run_id:
        return target, False
    if target.exists():
        discard(outbox, target)
    staging = staging_dir(outbox)
    try:
        outputs = stage_files(files, staging)
        document = {"schema_version": SCHEMA_VERSION, **manifest, "outputs": outputs}
        (staging / MANIFEST).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        fsync_file(staging / MANIFEST)
        fsync_dir(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, target)
        fsync_dir(target.parent)
    finally:
        if staging.exists():
            discard(outbox, staging)
    return target, True


def _version(outbox: Path, workflow: str, reference_date: str, run_id: str) -> Path:
    return outbox / workflow / version_name(reference_date, run_id)


def swap_in(outbox: Path, workflow: str, reference_date: str, run_id: str) -> SwapResult:
    """Make the report staged for ``run_id`` the report folder, in one atomic step.

    Call it only while the store says this run id's success is recorded and nobody else is
    swapping it (the run's row lock, :mod:`autoflow_watch.store.fence`). Idempotent: a swap
    that happened already (before a crash) is recognised by the folder's manifest.
    """
    target = outbox / check_component(workflow, "workflow") / reference_date
    if manifest_run_id(target) == run_id:
        discard_staged(outbox, workflow, reference_date, run_id)  # the old report, exchanged out
        return SwapResult.ALREADY
    pending, version = pending_dir(outbox, run_id), _version(outbox, workflow, reference_date, run_id)
    source = pending if pending.is_dir() else version if version.is_dir() else None
    if source is None or manifest_run_id(source) != run_id:
        return SwapResult.MISSING
    target.parent.mkdir(parents=True, exist_ok=True)
    aside = outbox / STAGING / staging_name(".removed")
    aside.parent.mkdir(parents=True, exist_ok=True)
    old = _swap(outbox, source, target, run_id, aside)
    fsync_dir(target.parent)
    if old is not None:
        if old.is_symlink():
            _discard_link(outbox, old)
        elif old.exists():
            discard(outbox, old)
    write_latest(outbox, workflow)
    return SwapResult.SWAPPED


def _swap(outbox: Path, source: Path, target: Path, run_id: str, aside: Path) -> Path | None:
    """One atomic step; return where the old report now is (to discard), None when there was none."""
    if link_target(target) is not None:  # a link already (another host could not exchange): stay with links
        return swap_by_link(source, target, run_id, aside)[1]
    if not target.exists():
        if exchange_supported(outbox / PENDING):
            os.rename(source, target)  # a directory renamed to a free name: atomic everywhere
            return None
        return swap_by_link(source, target, run_id, aside)[1]
    try:
        exchange(source, target)
    except OSError as error:
        if error.errno not in UNSUPPORTED:
            raise
        return swap_by_link(source, target, run_id, aside)[1]
    return source  # SwapMode.EXCHANGE: the old report is where the new one was staged


def _discard_link(outbox: Path, link: Path) -> None:
    """A report link moved out of the way: the link and the version folder it pointed to."""
    pointed = link_target(link)
    link.unlink(missing_ok=True)
    if pointed and "/" not in pointed and pointed.startswith("."):
        version = link.parent / pointed
        if version.is_dir() and not version.is_symlink():
            discard(outbox, version)


def discard_staged(outbox: Path, workflow: str | None, reference_date: str | None, run_id: str) -> bool:
    """Remove what is staged for ``run_id`` (never the version a report link points to); True if any."""
    removed = False
    pending = pending_dir(outbox, run_id)
    if pending.exists() or pending.is_symlink():
        if pending.is_symlink():
            _discard_link(outbox, pending)
            removed = True
        else:
            removed = discard(outbox, pending)
    if workflow is None or reference_date is None:
        return removed
    version = _version(outbox, workflow, reference_date, run_id)
    if version.is_dir() and link_target(outbox / workflow / reference_date) != version.name:
        removed = discard(outbox, version) or removed
    return removed


@dataclass(frozen=True)
class StagedReport:
    """A report staged and not (yet) in place: a ``.pending/`` entry or a version folder no link names."""

    run_id: str
    workflow: str | None  # None: a pending entry without a readable manifest
    reference_date: str | None


def staged_reports(outbox: Path) -> list[StagedReport]:
    """Every report staged and not in place, oldest run id first."""
    found: dict[str, StagedReport] = {}
    pending = outbox / PENDING
    if pending.is_dir():
        for entry in pending.iterdir():
            if not entry.name.startswith("."):
                named, day = _where_from_manifest(entry)
                found[entry.name] = StagedReport(entry.name, named, day)
    for workflow in _workflows(outbox):
        entries = list(workflow.iterdir())
        versions = [e.name for e in entries if e.name.startswith(".") and "@" in e.name and ".link-" not in e.name]
        if not versions:  # report links are rare (NFS, SMB): no readlink for every date otherwise
            continue
        linked = {link_target(e) for e in entries if is_date_name(e.name)}
        for name in versions:
            if name not in linked:
                day, run_id = name[1:].split("@", 1)
                found.setdefault(run_id, StagedReport(run_id, workflow.name, day))
    return [found[k] for k in sorted(found)]


def _where_from_manifest(folder: Path) -> tuple[str | None, str | None]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        workflow, day = data["workflow"], data["reference_date"]
    except (OSError, ValueError, KeyError, TypeError):
        return None, None
    if isinstance(workflow, str) and isinstance(day, str) and is_date_name(day):
        return workflow, day
    return None, None


def _workflows(outbox: Path) -> list[Path]:
    try:
        return [p for p in outbox.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))]
    except OSError:
        return []


def remove_report(outbox: Path, folder: Path) -> bool:
    """Remove a report folder for retention: a link goes with its version folder."""
    if folder.is_symlink():
        trash = outbox / STAGING / staging_name(".removed")
        trash.parent.mkdir(parents=True, exist_ok=True)
        pointed = link_target(folder)
        try:
            os.rename(folder, trash)
        except FileNotFoundError:
            return False
        trash.unlink(missing_ok=True)
        if pointed and "/" not in pointed:
            version = folder.parent / pointed
            if version.is_dir():
                discard(outbox, version)
        return True
    return discard(outbox, folder)


__all__ = [
    "PENDING",
    "StagedReport",
    "SwapMode",
    "SwapResult",
    "discard_staged",
    "manifest_run_id",
    "pending_dir",
    "remove_report",
    "stage_files",
    "stage_report",
    "staged_reports",
    "swap_in",
]
