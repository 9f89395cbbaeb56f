"""The portal's pages as text: the overview, a workflow's history (with its calendar) and its Atom feed.

Each takes the documents of :mod:`~autoflow_watch.publish.portal_json` (what ``index.json``
holds), so the overview is rebuilt from the workflows' documents without touching their dates
on disk or in the store again.
"""

from __future__ import annotations

import calendar
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from autoflow_watch import __version__
from autoflow_watch.publish.portal_figures import Figure, FigureColumn, figures
from autoflow_watch.publish.portal_json import iso
from autoflow_watch.publish.portal_model import DateEntry
from autoflow_watch.publish.portal_templates import (
    asset,
    environment,
    json_for_script,
    main_link,
    render_page,
    render_xml,
)
from autoflow_watch.publish.portal_templates import href as href_of

RECENT = 14  # dates in the overview's strip
OPEN_MONTHS = 12  # calendar months shown open; older ones fold
FEED_ENTRIES = 50


@dataclass(frozen=True)
class DayCell:
    """A day of the calendar: its number, and the state of the date when the workflow has it."""

    day: int
    date: str
    state: str | None


@dataclass(frozen=True)
class Month:
    """One month of the calendar, as weeks of seven cells (None outside the month), Monday first."""

    title: str
    weeks: list[list[DayCell | None]]


def calendar_months(dates: Sequence[dict[str, Any]]) -> list[Month]:
    """Every month that has a date of the workflow, newest first."""
    states = {d["reference_date"]: d["state"] for d in dates}
    months = sorted({(int(d[:4]), int(d[5:7])) for d in states}, reverse=True)
    grid = calendar.Calendar(firstweekday=0)
    result = []
    for year, month in months:
        weeks = []
        for week in grid.monthdayscalendar(year, month):
            cells: list[DayCell | None] = []
            for day in week:
                date = f"{year:04d}-{month:02d}-{day:02d}"
                cells.append(DayCell(day, date, states.get(date)) if day else None)
            weeks.append(cells)
        result.append(Month(f"{calendar.month_name[month]} {year}", weeks))
    return result


def overview_page(document: dict[str, Any]) -> str:
    """``outbox/index.html``: every workflow's strip, newest report and links, and the search box."""
    return render_page(
        "overview.html.j2",
        script=asset("search.js"),
        workflows=document["workflows"],
        recent=RECENT,
        data_json=json_for_script(document),
    )


# (workflow, part) -> key -> the part as rendered: after a run only the rows (and calendar months)
# that changed are rendered again; a workflow of 3,650 dates has 3,650 rows, one run changes one or
# two. Each rebuild keeps only what it used, so the cache holds at most one history per workflow.
_RENDERED: dict[tuple[str, str], dict[str, Markup]] = {}


class _Reuse:
    """What one rebuild of one part of a history renders, reusing the previous rebuild's output."""

    def __init__(self, workflow: str, part: str, template: str, macro: str) -> None:
        self.slot = (workflow, part)
        self.previous = _RENDERED.get(self.slot, {})
        self.current: dict[str, Markup] = {}
        self.render = getattr(environment().get_template(template).module, macro)

    def __call__(self, key: Any, *args: Any) -> Markup:
        text = json.dumps(key, separators=(",", ":"))
        html = self.previous.get(text)
        if html is None:
            html = self.render(*args)
        self.current[text] = html
        return html

    def done(self) -> None:
        _RENDERED[self.slot] = self.current


def history_rows(
    document: dict[str, Any], cells: dict[str, list[Figure]], columns: Sequence[FigureColumn]
) -> list[Markup]:
    """The history's rows, newest first, each rendered by ``history_row.html.j2`` unless unchanged."""
    reuse = _Reuse(document["name"], "rows", "history_row.html.j2", "row")
    labels = [c.label for c in columns]
    rows = []
    for date in document["dates"]:
        figures_of = cells[date["reference_date"]]
        key = [date, labels, [(f.text, f.change, f.direction) for f in figures_of]]
        rows.append(reuse(key, date, figures_of, columns))
    reuse.done()
    return rows


def calendar_tables(workflow: str, months: Sequence[Month]) -> list[Markup]:
    """The calendar's months, each rendered by ``macros.html.j2``'s ``month_table`` unless unchanged."""
    reuse = _Reuse(workflow, "months", "macros.html.j2", "month_table")
    tables = [reuse([m.title, [[c and (c.day, c.state) for c in w] for w in m.weeks]], m) for m in months]
    reuse.done()
    return tables


def history_page(document: dict[str, Any], entries: Sequence[DateEntry], columns: Sequence[FigureColumn]) -> str:
    """``outbox/<workflow>/index.html``: every date newest first, its figures, and the calendar."""
    return render_page(
        "history.html.j2",
        wf=document,
        columns=columns,
        rows=history_rows(document, figures(entries, columns), columns),
        calendar=calendar_tables(document["name"], calendar_months(document["dates"])),
        open_months=OPEN_MONTHS,
    )


def _feed_entry(workflow: str, date: dict[str, Any], now: float) -> dict[str, Any]:
    day, state = date["reference_date"], date["state"]
    target = main_link(date)
    if target is None:
        href = f"index.html#d-{day}"
    elif target.startswith(workflow + "/"):
        href = target[len(workflow) + 1 :]  # relative to the feed, in the workflow's folder
    else:
        href = "../" + target
    if state == "dead":
        title = f"{workflow} {day}: gave up after {date['attempts']} attempt(s)"
        summary = date.get("error") or "The run failed on every attempt; the link shows why."
    else:
        files = [f.rsplit("/", 1)[-1] for f in (date.get("report") or {}).get("files", [])]
        title = f"{workflow} {day}: report published"
        summary = "Files: " + ", ".join(files) if files else "Report published."
    key = f"autoflow-watch/{workflow}/{day}/{date.get('run_id')}/{state}"
    return {
        "id": uuid.uuid5(uuid.NAMESPACE_URL, key).urn,
        "title": title,
        "updated": date.get("finished_at") or iso(now),
        "href": href_of(href),
        "summary": summary,
    }


def feed_xml(document: dict[str, Any], now: float) -> str:
    """``outbox/<workflow>/feed.xml``: Atom, the newest 50 published reports and dead runs."""
    workflow = document["name"]
    chosen = [
        d
        for d in document["dates"]
        if d["state"] == "dead" or (d["state"] == "succeeded" and d["report"] and d["report"]["complete"])
    ]
    chosen.sort(key=lambda d: d.get("finished_at") or "", reverse=True)
    entries = [_feed_entry(workflow, d, now) for d in chosen[:FEED_ENTRIES]]
    updated = max((e["updated"] for e in entries), default=iso(now))
    return render_xml(
        "feed.xml.j2",
        feed_id=uuid.uuid5(uuid.NAMESPACE_URL, f"autoflow-watch/{workflow}").urn,
        workflow=workflow,
        updated=updated,
        version=__version__,
        entries=entries,
    )
