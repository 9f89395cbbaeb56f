"""FlowAPI's ``available_dates`` answer, validated into facts.

The answer is data from another system: it never chooses a path or code, and every name and
date in it is checked before it becomes a fact. Odd items are skipped, not fatal, so one bad
entry never hides the good ones.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from autoflow_watch.config.model import DATASET_PATTERN
from autoflow_watch.sources.source import PollError, PollFailure
from autoflow_watch.vocabulary import Fact

SOURCE = "flowapi"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # fromisoformat alone also takes 20261124 and more


class Skipped(NamedTuple):
    """One item of the answer left out: ``what`` is ``dataset`` or ``date``."""

    what: str
    dataset: str
    value: str
    reason: str


@dataclass(frozen=True)
class Answer:
    """What one FlowAPI answer says: the facts, the datasets it lists, and what was skipped as invalid."""

    facts: list[Fact] = field(default_factory=list)
    datasets: tuple[str, ...] = ()  # valid names the server lists, even with no dates
    skipped: list[Skipped] = field(default_factory=list)


def facts_from_answer(answer: object) -> Answer:
    """Facts (source ``flowapi``) for every valid (type, date); a non-object answer is a PollError."""
    if not isinstance(answer, dict):
        raise PollError(PollFailure.BAD_RESPONSE, f"available_dates is a {type(answer).__name__}, expected an object")
    facts: list[Fact] = []
    datasets: list[str] = []
    skipped: list[Skipped] = []
    for name, dates in answer.items():
        if not isinstance(name, str) or not DATASET_PATTERN.match(name):
            skipped.append(Skipped("dataset", show(name), "", "name does not match [a-z][a-z0-9_-]{0,63}"))
            continue
        if not isinstance(dates, list):
            skipped.append(Skipped("dataset", name, show(dates), "dates are not a list"))
            continue
        datasets.append(name)
        days: set[dt.date] = set()
        for value in dates:
            day = parse_day(value)
            if day is None:
                skipped.append(Skipped("date", name, show(value), "not a valid YYYY-MM-DD date"))
            else:
                days.add(day)
        facts.extend(Fact(name, day, SOURCE) for day in sorted(days))
    return Answer(facts, tuple(sorted(datasets)), skipped)


def parse_day(value: object) -> dt.date | None:
    """A strict ``YYYY-MM-DD`` that is a real day, or None."""
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def show(value: object, limit: int = 80) -> str:
    """A server-supplied value made safe for a log line: repr (escapes controls), shortened."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
