"""``outbox/index.html``: every workflow and date, its status and its links, newest first.

Plain HTML with relative links and inline CSS: it reads the same from ``file://``, a
shared folder or any static web server, and needs no JavaScript.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from autoflow_watch.publish.outbox import FAILED, MANIFEST, atomic_write_text


@dataclass(frozen=True)
class IndexEntry:
    workflow: str
    reference_date: str
    state: str  # pending / running / succeeded / failed / dead
    run_id: str | None
    attempts: int
    finished_at: float | None
    error: str | None


CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1d2530}
h1{color:#1f5f99;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #d9dee5}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.35rem .6rem;
border-bottom:1px solid #e3e7ec;vertical-align:top}th{background:#f3f5f8}.muted{color:#5b6573;font-size:.85rem}
.state{font-weight:600}.succeeded{color:#1e7a3c}.failed,.dead{color:#b3261e}.running{color:#1f5f99}.pending{color:#8a6d00}
.error{color:#5b6573;font-size:.8rem;max-width:30rem;overflow-wrap:anywhere}a{color:#1f5f99}
"""


def _link(outbox: Path, relative: str, label: str) -> str:
    if not (outbox / relative).exists():
        return ""
    return f'<a href="{html.escape(quote(relative))}">{html.escape(label)}</a>'


def _report_links(outbox: Path, entry: IndexEntry) -> list[str]:
    folder = f"{entry.workflow}/{entry.reference_date}"
    links = []
    if (outbox / folder / MANIFEST).exists():
        for path in sorted((outbox / folder).iterdir()):
            if path.is_file() and not path.name.startswith(".") and path.name != MANIFEST:
                links.append(_link(outbox, f"{folder}/{path.name}", path.name))
        links.append(_link(outbox, f"{folder}/{MANIFEST}", "manifest"))
    return links


def _failure_links(outbox: Path, entry: IndexEntry) -> list[str]:
    folder = outbox / FAILED / entry.workflow / entry.reference_date
    if not folder.is_dir():
        return []
    attempts = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    links = []
    for attempt in attempts[:3]:
        rel = f"{FAILED}/{entry.workflow}/{entry.reference_date}/{attempt.name}"
        for name in sorted(p.name for p in attempt.iterdir()):
            links.append(_link(outbox, f"{rel}/{name}", f"failed {name}"))
    return links


def _row(outbox: Path, entry: IndexEntry) -> str:
    finished = (
        dt.datetime.fromtimestamp(entry.finished_at, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        if entry.finished_at
        else ""
    )
    links = [link for link in _report_links(outbox, entry) + _failure_links(outbox, entry) if link]
    error = f'<div class="error">{html.escape(entry.error)}</div>' if entry.error and entry.state != "succeeded" else ""
    return (
        f"<tr><td>{html.escape(entry.reference_date)}</td>"
        f'<td class="state {html.escape(entry.state)}">{html.escape(entry.state)}</td>'
        f"<td>{entry.attempts}</td><td>{finished}</td><td>{' · '.join(links)}{error}</td></tr>"
    )


def render_index(outbox: Path, entries: Sequence[IndexEntry], now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(tz=dt.timezone.utc)
    by_workflow: dict[str, list[IndexEntry]] = {}
    for entry in entries:
        by_workflow.setdefault(entry.workflow, []).append(entry)
    sections = []
    for workflow in sorted(by_workflow):
        rows = sorted(by_workflow[workflow], key=lambda e: e.reference_date, reverse=True)
        latest = _link(outbox, f"{workflow}/latest.json", "latest.json")
        sections.append(
            f'<h2>{html.escape(workflow)}</h2><p class="muted">{len(rows)} run(s) {latest}</p>'
            "<table><thead><tr><th>Reference date</th><th>Status</th><th>Attempts</th><th>Finished</th>"
            "<th>Files</th></tr></thead><tbody>" + "".join(_row(outbox, e) for e in rows) + "</tbody></table>"
        )
    body = "".join(sections) or "<p>No runs yet.</p>"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>autoflow-watch reports</title>'
        f"<style>{CSS}</style></head><body><h1>Reports</h1>"
        f'<p class="muted">Updated {now.strftime("%Y-%m-%d %H:%M:%S UTC")}. Newest first. A report is complete '
        f"when its manifest is listed.</p>{body}</body></html>\n"
    )


def write_index(outbox: Path, runs: Sequence[IndexEntry]) -> Path:
    """Regenerate the index atomically (write a temporary file, rename it over the old one)."""
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / "index.html"
    atomic_write_text(path, render_index(outbox, runs))
    return path
