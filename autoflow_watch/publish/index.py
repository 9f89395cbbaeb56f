"""``outbox/index.html``: every workflow and date, its status and its links, newest first.

Built from the run records the daemon passes in *and* from the folders on disk (see
:mod:`~autoflow_watch.publish.discover`). Plain HTML with relative, percent-encoded links and
an inline stylesheet: it reads the same from ``file://``, an SMB share or any static web
server, and needs no JavaScript (error details fold with ``<details>``). It is rewritten
whole, through the staging area, after every change.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from autoflow_watch.publish.discover import FailedAttempt, ReportFolder, scan_failures, scan_reports
from autoflow_watch.publish.index_style import INDEX_CSS
from autoflow_watch.publish.staging import FAILED, INDEX, LATEST_HTML, LATEST_JSON, MANIFEST, atomic_write_text

_FAILED_SHOWN = 3  # newest failed attempts linked per date; older ones are counted
# the same column widths in every workflow's table, so the sections line up when scrolling
_COLUMNS = (
    "<colgroup>"
    + "".join(f'<col class="{c}">' for c in ("c-date", "c-state", "c-num", "c-time", "c-report", "c-failed"))
    + "</colgroup>"
)
_STATES = ("running", "pending", "failed", "dead", "succeeded", "incomplete")


@dataclass(frozen=True)
class IndexEntry:
    """One (workflow, reference date) as the outbox index shows it."""

    workflow: str
    reference_date: str
    state: str  # pending / running / succeeded / failed / dead
    run_id: str | None
    attempts: int
    finished_at: float | None
    error: str | None


@dataclass
class _Row:
    """One table row of the index page, ready to be written as HTML."""

    workflow: str
    reference_date: str
    state: str
    attempts: int
    finished: dt.datetime | None
    error: str | None
    report: ReportFolder | None = None
    failures: list[FailedAttempt] = field(default_factory=list)


def _when(value: float | str | None) -> dt.datetime | None:
    if value is None or value == "":
        return None
    try:
        if isinstance(value, str):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone()
        return dt.datetime.fromtimestamp(value).astimezone()
    except (ValueError, OverflowError, OSError):
        return None


def _rows(outbox: Path, entries: Sequence[IndexEntry]) -> list[_Row]:
    """Run records and disk merged: one row per (workflow, reference date)."""
    reports, failures = scan_reports(outbox), scan_failures(outbox)
    rows: dict[tuple[str, str], _Row] = {}
    for e in entries:
        rows[(e.workflow, e.reference_date)] = _Row(
            e.workflow, e.reference_date, e.state, e.attempts, _when(e.finished_at), e.error
        )
    for key in set(reports) | set(failures):
        if key in rows:
            continue
        report, failed = reports.get(key), failures.get(key, [])
        complete = report is not None and report.manifest is not None
        state = "succeeded" if complete else "failed" if failed else "incomplete"
        finished = _when(report.manifest.get("finished_at")) if complete and report and report.manifest else None
        rows[key] = _Row(key[0], key[1], state, len(failed) + int(complete), finished, None)
    for key, row in rows.items():
        row.report, row.failures = reports.get(key), failures.get(key, [])
    newest_first = sorted(rows.values(), key=lambda r: r.reference_date, reverse=True)
    return sorted(newest_first, key=lambda r: r.workflow)  # stable: dates stay newest first


def _a(relative: str, label: str, css: str = "") -> str:
    klass = f' class="{css}"' if css else ""
    href = "#" + quote(relative[1:]) if relative.startswith("#") else quote(relative)  # an anchor stays one
    return f'<a{klass} href="{html.escape(href)}">{html.escape(label)}</a>'


def _report_cell(row: _Row) -> str:
    report = row.report
    if report is None:
        return ""
    if report.manifest is None:
        return '<span class="muted">being published</span>'
    links = [_a(path, path.rsplit("/", 1)[1], "file") for path in report.outputs]
    links.append(_a(f"{report.workflow}/{report.reference_date}/{MANIFEST}", "manifest", "manifest"))
    note = "" if row.state == "succeeded" else '<div class="muted">published by an earlier run</div>'
    return " ".join(links) + note


def _failures_cell(row: _Row) -> str:
    parts = []
    for attempt in row.failures[:_FAILED_SHOWN]:
        files = " ".join(_a(path, path.rsplit("/", 1)[1], "file") for path in attempt.files)
        when = _time_text(_when(attempt.filed_at))
        parts.append(f'<div class="attempt"><span class="muted">{html.escape(when)}</span> {files}</div>')
    hidden = len(row.failures) - _FAILED_SHOWN
    if hidden > 0:
        parts.append(f'<div class="muted">and {hidden} older failed attempt(s) in {FAILED}/</div>')
    return "".join(parts)


def _time_text(when: dt.datetime | None) -> str:
    return when.strftime("%Y-%m-%d %H:%M") if when else ""


def _status_cell(row: _Row) -> str:
    state = html.escape(row.state)
    cell = f'<span class="state {state}">{state}</span>'
    if row.error and row.state != "succeeded":
        text = row.error.strip()
        first = text.splitlines()[0] if text else row.error
        if first == text and len(first) <= 140:  # all of it fits: nothing to unfold
            cell += f'<div class="error">{html.escape(first)}</div>'
        else:  # the summary line, and unfolded what it does not already say
            short, rest = (first, text[len(first) :].strip()) if len(first) <= 140 else (first[:137] + "…", text)
            cell += f"<details><summary>{html.escape(short)}</summary><pre>{html.escape(rest)}</pre></details>"
    return cell


def _row_html(row: _Row) -> str:
    return (
        f'<tr class="{html.escape(row.state)}"><td class="date">{html.escape(row.reference_date)}</td>'
        f"<td>{_status_cell(row)}</td><td class=num>{row.attempts}</td>"
        f"<td class=time>{html.escape(_time_text(row.finished))}</td>"
        f"<td>{_report_cell(row)}</td><td>{_failures_cell(row)}</td></tr>"
    )


def _section(outbox: Path, workflow: str, rows: list[_Row]) -> str:
    latest = [
        _a(f"{workflow}/{name}", name) for name in (LATEST_HTML, LATEST_JSON) if (outbox / workflow / name).is_file()
    ]
    counts = ", ".join(f"{n} {s}" for s in _STATES if (n := sum(r.state == s for r in rows)))
    return (
        f'<section id="{html.escape(quote(workflow))}"><h2>{html.escape(workflow)}</h2>'
        f'<p class="muted">{counts}{" · " if latest else ""}{" · ".join(latest)}</p>'
        f'<div class="scroll"><table class="runs">{_COLUMNS}<thead><tr><th>Reference date</th><th>Status</th>'
        "<th class=num>Attempts</th><th>Finished</th><th>Report</th><th>Failed attempts</th></tr></thead><tbody>"
        + "".join(_row_html(r) for r in rows)
        + "</tbody></table></div></section>"
    )


def _summary(rows_by_workflow: dict[str, list[_Row]]) -> str:
    lines = []
    for workflow, rows in rows_by_workflow.items():
        newest = rows[0]
        complete = next((r for r in rows if r.report and r.report.manifest is not None), None)
        latest = _a(f"#{workflow}", workflow)
        report = (
            f"{complete.reference_date} {_report_cell(complete)}" if complete else '<span class="muted">none</span>'
        )
        lines.append(
            f"<tr><td>{latest}</td><td>{html.escape(newest.reference_date)} "
            f'<span class="state {html.escape(newest.state)}">{html.escape(newest.state)}</span></td>'
            f"<td>{report}</td></tr>"
        )
    return (
        "<table class=summary><thead><tr><th>Workflow</th><th>Newest run</th><th>Latest complete report</th></tr>"
        f"</thead><tbody>{''.join(lines)}</tbody></table>"
    )


def render_index(outbox: Path, entries: Sequence[IndexEntry], now: dt.datetime | None = None) -> str:
    """The index page's HTML."""
    now = now or dt.datetime.now().astimezone()
    by_workflow: dict[str, list[_Row]] = {}
    for row in _rows(outbox, entries):
        by_workflow.setdefault(row.workflow, []).append(row)
    if by_workflow:
        body = _summary(by_workflow) + "".join(_section(outbox, w, rows) for w, rows in by_workflow.items())
    else:
        body = '<p class="muted">No runs yet.</p>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Reports · autoflow-watch</title><style>{INDEX_CSS}</style></head><body>"
        '<header><div class="kicker">autoflow-watch</div><h1>Reports</h1>'
        f'<p class="muted">Updated {html.escape(now.strftime("%Y-%m-%d %H:%M:%S %Z"))}. Newest first. '
        "A report is complete when its manifest is listed.</p></header>"
        f"<main>{body}</main></body></html>\n"
    )


def write_index(outbox: Path, runs: Sequence[IndexEntry]) -> Path:
    """Regenerate ``outbox/index.html`` atomically (staged, then renamed over the old one)."""
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / INDEX
    atomic_write_text(outbox, path, render_index(outbox, runs))
    return path
