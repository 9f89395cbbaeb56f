"""Test helpers for the outbox: small report files and manifests as the daemon writes them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

# the manifest keys of DESIGN.md "Outbox"; publish_report adds schema_version and outputs
MANIFEST_KEYS = {
    "schema_version",
    "workflow",
    "reference_date",
    "run_id",
    "attempt",
    "started_at",
    "finished_at",
    "parameters",
    "notebooks",
    "outputs",
    "autoflow_watch_version",
}


def report_files(
    folder: Path, text: str = "report", names: tuple[str, ...] = ("report.html", "report.pdf")
) -> list[Path]:
    """Rendered-report stand-ins in a work folder (what the worker hands to publishing)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name in names:
        path = folder / name
        if name.endswith(".ipynb"):
            content = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
        else:
            content = f"<p>{text} {name}</p>" if name.endswith(".html") else f"%PDF {text}"
        path.write_text(content, encoding="utf-8")
        files.append(path)
    return files


def manifest(workflow: str, reference_date: str, run_id: str = "run-1", finished: str | None = None) -> dict[str, Any]:
    """What the daemon's ``build_manifest`` passes (everything but ``outputs``)."""
    finished = finished or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return {
        "schema_version": 1,
        "workflow": workflow,
        "reference_date": reference_date,
        "run_id": run_id,
        "attempt": 1,
        "started_at": finished,
        "finished_at": finished,
        "parameters": {"reference_date": reference_date, "region": "admin2"},
        "notebooks": [{"name": "report", "source_sha256": "0" * 64, "duration_s": 1.5}],
        "autoflow_watch_version": "0.0-test",
    }
