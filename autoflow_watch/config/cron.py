"""Cron schedules for the FlowAPI check: validation here, the next time in the source."""

from __future__ import annotations

import datetime as dt

from croniter import croniter


def check_cron(expression: str) -> str:
    """The expression, stripped, if croniter understands it; a one-line ValueError otherwise."""
    text = expression.strip()
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise ValueError(
            f"schedule {expression!r} is not a cron expression of five fields "
            '(minute hour day-of-month month day-of-week), e.g. "0 0 * * *" for every midnight'
        )
    return text


def next_time(expression: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after ``after`` (naive, host-local) that the schedule fires."""
    result = croniter(expression, after).get_next(dt.datetime)
    assert isinstance(result, dt.datetime)
    return result
