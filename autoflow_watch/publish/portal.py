"""Rebuilding the outbox's pages: one workflow's (history, feed, data) and the overview.

After a run only that workflow's pages and the overview are rebuilt. A workflow's pages come
from three indexed queries on its runs and one listing of its folders; the overview comes from
the workflows' ``<workflow>/index.json`` documents, so it reads no run and no folder of theirs.
Every file is replaced by a rename from the staging area: a reader sees the old page or the new
one. Daemons sharing the store and the outbox may rebuild the same pages at once; each rebuilds
again while what it read changed meanwhile, so the last page written shows every daemon's runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from autoflow_watch.logs import get_logger
from autoflow_watch.publish.portal_disk import disk_workflows, scan_workflow
from autoflow_watch.publish.portal_figures import scrap_columns
from autoflow_watch.publish.portal_json import (
    FEED,
    HISTORY,
    SCHEMA_VERSION,
    WORKFLOW_JSON,
    overview_document,
    workflow_document,
)
from autoflow_watch.publish.portal_model import build_entries
from autoflow_watch.publish.portal_pages import feed_xml, history_page, overview_page
from autoflow_watch.publish.staging import INDEX, atomic_write_text, check_component
from autoflow_watch.store.portal import PortalRecords

INDEX_JSON = "index.json"
REBUILDS = 3

log = get_logger("autoflow_watch.portal")
_TOLD_BLOCKED: dict[str, str] = {}  # workflow -> why its pages could not be written, as last said


def _document_text(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"  # compact: C-speed


def rebuild_workflow(outbox: Path, records: PortalRecords, workflow: str) -> dict[str, Any]:
    """Write ``<workflow>/index.html``, ``feed.xml`` and ``index.json``; return the workflow's document."""
    check_component(workflow, "workflow")
    folder = outbox / workflow
    document: dict[str, Any] = {}
    for _ in range(REBUILDS):
        version = records.version(workflow)
        disk = scan_workflow(outbox, workflow)
        entries = build_entries(outbox, workflow, records.history(workflow), disk)
        document = workflow_document(workflow, entries, (disk.latest_html, disk.latest_json))
        now = time.time()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # something that is not a folder has the workflow's name: its pages cannot go there
            return {**document, "blocked": _blocked(workflow, error)}
        data = _document_text({"schema_version": SCHEMA_VERSION, **document})
        atomic_write_text(outbox, folder / WORKFLOW_JSON, data)
        atomic_write_text(outbox, folder / HISTORY, history_page(document, entries, scrap_columns(entries)))
        atomic_write_text(outbox, folder / FEED, feed_xml(document, now))
        if records.version(workflow) == version:
            break
    return document


def _blocked(workflow: str, error: OSError) -> str:
    """Why a workflow's pages cannot be written, said once per workflow and cause (the overview shows it too)."""
    why = f"outbox/{workflow} is not a folder the daemon can write ({error.strerror or error}): move it away"
    if _TOLD_BLOCKED.get(workflow) != why:
        _TOLD_BLOCKED[workflow] = why
        log.warning("outbox.pages_blocked", workflow=workflow, error=why)
    return why


def _stored_document(outbox: Path, workflow: str) -> tuple[dict[str, Any] | None, int]:
    """A workflow's document as its last rebuild wrote it, and the file's change time (0: none)."""
    path = outbox / workflow / WORKFLOW_JSON
    try:
        stamp = path.stat().st_mtime_ns
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, 0
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION or data.get("name") != workflow:
        return None, 0
    data.pop("schema_version")
    return data, stamp


def all_workflows(outbox: Path, records: PortalRecords, configured: Iterable[str]) -> list[str]:
    """The configured workflows, those the store has runs of, and those with folders in the outbox."""
    names = set(configured) | set(records.workflows()) | set(disk_workflows(outbox))
    valid = []
    for name in sorted(names):
        try:
            valid.append(check_component(name, "workflow"))
        except ValueError:
            continue  # not a name a workflow can have: not ours
    return valid


def rebuild_overview(outbox: Path, records: PortalRecords, workflows: list[str]) -> None:
    """Write ``index.json`` and ``index.html`` from the workflows' documents (rebuilding those missing)."""
    for _ in range(REBUILDS):
        documents, stamps = [], {}
        for workflow in workflows:
            document, stamp = _stored_document(outbox, workflow)
            if document is None:
                built = rebuild_workflow(outbox, records, workflow)
                document, stamp = _stored_document(outbox, workflow)
                # its pages cannot be written (something else has its folder's name): its card says why
                document = document or built
            documents.append(document)
            stamps[workflow] = stamp
        overview = overview_document(documents, time.time())
        atomic_write_text(outbox, outbox / INDEX_JSON, _document_text(overview))
        atomic_write_text(outbox, outbox / INDEX, overview_page(overview))
        if all(_stored_document(outbox, w)[1] == stamp for w, stamp in stamps.items()):
            break


def refresh_pages(
    outbox: Path, records: PortalRecords, configured: Iterable[str], changed: Iterable[str] | None = None
) -> None:
    """Rebuild the pages of the ``changed`` workflows (None: every workflow), then the overview."""
    outbox.mkdir(parents=True, exist_ok=True)
    workflows = all_workflows(outbox, records, configured)
    for workflow in workflows if changed is None else sorted(set(changed) & set(workflows)):
        rebuild_workflow(outbox, records, workflow)
    rebuild_overview(outbox, records, workflows)
