"""``index.json`` (every workflow) and ``<workflow>/index.json`` (one): the portal's pages as data.

The schema is in docs/outbox.md ("index.json"); ``PORTAL_SCHEMA`` below is the same as a JSON
Schema, which the tests check documents against. Paths are relative to the outbox folder;
times are ISO 8601 in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from autoflow_watch.publish.portal_model import DateEntry, DateState
from autoflow_watch.publish.staging import LATEST_HTML, LATEST_JSON

SCHEMA_VERSION = 1
HISTORY = "index.html"
FEED = "feed.xml"
WORKFLOW_JSON = "index.json"


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="seconds")


def _first_line(text: str | None) -> str | None:
    if not text or not text.strip():
        return None
    return text.strip().splitlines()[0][:300]


def date_document(entry: DateEntry) -> dict[str, Any]:
    """One date of a workflow, as ``index.json`` holds it."""
    report = entry.report
    return {
        "reference_date": entry.reference_date,
        "state": entry.state.value,
        "attempts": entry.attempts,
        "run_id": entry.run_id,
        "started_at": iso(entry.started_at),
        "finished_at": iso(entry.finished_at),
        "duration_s": None if entry.duration_s is None else round(entry.duration_s, 3),
        "error": _first_line(entry.error) if entry.state is not DateState.SUCCEEDED else None,
        "report": None
        if report is None
        else {
            "complete": report.complete,
            "folder": report.folder,
            "manifest": report.manifest,
            "files": report.files,
            "earlier_run": report.earlier_run,
        },
        "report_removed": entry.removed,
        "failed_attempts": [
            {"run_id": a.run_id, "attempt": a.attempt, "page": a.page, "files": a.files} for a in entry.failed
        ],
        "scraps": entry.scraps,
    }


def workflow_document(workflow: str, entries: Sequence[DateEntry], latest: tuple[bool, bool]) -> dict[str, Any]:
    """One workflow: where its pages are, its counts, its newest complete report, and every date."""
    counts = {state.value: 0 for state in DateState}
    for entry in entries:
        counts[entry.state.value] += 1
    newest = next((e.reference_date for e in entries if e.report and e.report.complete), None)
    return {
        "name": workflow,
        "history": f"{workflow}/{HISTORY}",
        "feed": f"{workflow}/{FEED}",
        "latest_html": f"{workflow}/{LATEST_HTML}" if latest[0] else None,
        "latest_json": f"{workflow}/{LATEST_JSON}" if latest[1] else None,
        "counts": counts,
        "newest_complete": newest,
        "dates": [date_document(e) for e in entries],
    }


def overview_document(workflows: Sequence[dict[str, Any]], now: float) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "generated_at": iso(now), "workflows": list(workflows)}


_PATH = {"type": "string", "pattern": "^[^/].*"}
_NULLABLE_PATH = {"anyOf": [_PATH, {"type": "null"}]}
_TIME = {"type": ["string", "null"]}
_DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
_SCALAR = {"type": ["number", "string", "boolean"]}

PORTAL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["schema_version", "generated_at", "workflows"],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "generated_at": {"type": "string"},
        "workflows": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    "name",
                    "history",
                    "feed",
                    "latest_html",
                    "latest_json",
                    "counts",
                    "newest_complete",
                    "dates",
                ],
                "properties": {
                    "name": {"type": "string"},
                    "history": _PATH,
                    "feed": _PATH,
                    "latest_html": _NULLABLE_PATH,
                    "latest_json": _NULLABLE_PATH,
                    "counts": {
                        "type": "object",
                        "required": [s.value for s in DateState],
                        "additionalProperties": {"type": "integer", "minimum": 0},
                    },
                    "newest_complete": {"anyOf": [_DATE, {"type": "null"}]},
                    "dates": {"type": "array", "items": {"$ref": "#/$defs/date"}},
                    "blocked": {"type": "string"},
                },
            },
        },
    },
    "$defs": {
        "date": {
            "type": "object",
            "required": [
                "reference_date",
                "state",
                "attempts",
                "run_id",
                "started_at",
                "finished_at",
                "duration_s",
                "error",
                "report",
                "report_removed",
                "failed_attempts",
                "scraps",
            ],
            "properties": {
                "reference_date": _DATE,
                "state": {"enum": [s.value for s in DateState]},
                "attempts": {"type": "integer", "minimum": 0},
                "run_id": {"type": ["string", "null"]},
                "started_at": _TIME,
                "finished_at": _TIME,
                "duration_s": {"type": ["number", "null"], "minimum": 0},
                "error": {"type": ["string", "null"]},
                "report": {
                    "anyOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "required": ["complete", "folder", "manifest", "files", "earlier_run"],
                            "properties": {
                                "complete": {"type": "boolean"},
                                "folder": _PATH,
                                "manifest": _NULLABLE_PATH,
                                "files": {"type": "array", "items": _PATH},
                                "earlier_run": {"type": "boolean"},
                            },
                        },
                    ]
                },
                "report_removed": {"type": "boolean"},
                "failed_attempts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["run_id", "attempt", "page", "files"],
                        "properties": {
                            "run_id": {"type": "string"},
                            "attempt": {"type": ["integer", "null"]},
                            "page": _NULLABLE_PATH,
                            "files": {"type": "array", "items": _PATH},
                        },
                    },
                },
                "scraps": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "additionalProperties": _SCALAR},
                },
            },
        }
    },
}
