"""What the FlowDB source reads: FlowMachine's availability rule, the trigger, and the SQL it ships.

A date D is available for CDR type T when ``etl.etl_records`` has a row with
``cdr_type = T``, ``cdr_date = D`` and ``state = 'ingested'`` — FlowMachine's own query
(``Connection.available_dates``). Rows are data: a type that is not a valid dataset name, a
NULL, or a date that is not a plain ``YYYY-MM-DD`` day (``infinity``, BC dates) is skipped,
never fatal. Dates are read as text (the session's ``DateStyle`` is ISO) so that no value
psycopg cannot load as a Python date can fail a whole poll.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, NamedTuple

from autoflow_watch.config.model import DATASET_PATTERN
from autoflow_watch.sources.flowapi.answer import parse_day, show
from autoflow_watch.vocabulary import Fact

SOURCE = "flowdb"
CHANNEL = "autoflow_watch_flowdb"  # what the shipped trigger NOTIFYs and the source LISTENs on
TRIGGER = "autoflow_watch_notify"

AVAILABLE_SQL = (
    "SELECT cdr_type, cdr_date::text FROM etl.etl_records WHERE state = 'ingested' GROUP BY cdr_type, cdr_date"
)
# pg_catalog is readable by every role: a reader without rights on the trigger can still see it.
TRIGGER_SQL = """
SELECT EXISTS (
    SELECT 1 FROM pg_catalog.pg_trigger t
    JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'etl' AND c.relname = 'etl_records' AND t.tgname = %s AND t.tgenabled <> 'D'
)
"""


class SkippedRow(NamedTuple):
    """One (cdr_type, cdr_date) of ``etl.etl_records`` left out, and why."""

    cdr_type: str
    cdr_date: str
    reason: str


@dataclass(frozen=True)
class Availability:
    """The valid facts of one poll and the rows skipped."""

    facts: list[Fact] = field(default_factory=list)
    datasets: tuple[str, ...] = ()
    skipped: list[SkippedRow] = field(default_factory=list)


def facts_from_rows(rows: list[tuple[Any, Any]]) -> Availability:
    """Facts (source ``flowdb``) for every valid ingested (cdr_type, cdr_date)."""
    days: dict[str, set[dt.date]] = {}
    skipped: list[SkippedRow] = []
    for cdr_type, cdr_date in rows:
        if not isinstance(cdr_type, str) or not DATASET_PATTERN.match(cdr_type):
            reason = "cdr_type is NULL" if cdr_type is None else "cdr_type does not match [a-z][a-z0-9_-]{0,63}"
            skipped.append(SkippedRow(show(cdr_type), show(cdr_date), reason))
            continue
        day = parse_day(cdr_date)
        if day is None:
            reason = "cdr_date is NULL" if cdr_date is None else "cdr_date is not a YYYY-MM-DD day"
            skipped.append(SkippedRow(cdr_type, show(cdr_date), reason))
            continue
        days.setdefault(cdr_type, set()).add(day)
    facts = [Fact(name, day, SOURCE) for name in sorted(days) for day in sorted(days[name])]
    return Availability(facts, tuple(sorted(days)), skipped)


def notify_sql() -> str:
    """The optional trigger, as shipped in ``sql/flowdb-notify.sql`` and printed by ``flowdb-sql``."""
    return resources.files("autoflow_watch").joinpath("sql/flowdb-notify.sql").read_text(encoding="utf-8")
