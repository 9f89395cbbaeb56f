"""Cron schedules for the FlowAPI check: validation here, the next time in the source."""

from __future__ import annotations

import datetime as dt

from croniter import croniter

# cron's nicknames, as AutoFlow's Prefect schedules (croniter) accepted them
NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def check_cron(expression: str) -> str:
    """The expression, stripped (a nickname as its five fields), if croniter understands it; else a ValueError."""
    text = expression.strip()
    text = NICKNAMES.get(text.lower(), text)
    if len(text.split()) != 5:
        raise ValueError(
            f"schedule {expression!r} is not a cron expression of five fields "
            '(minute hour day-of-month month day-of-week), e.g. "0 0 * * *" for every midnight'
        )
    if not croniter.is_valid(text):
        raise ValueError(
            f"schedule {expression!r} has a field out of range or unreadable "
            "(minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-6)"
        )
    try:
        next_time(text, dt.datetime.now())
    except Exception:  # croniter gives up searching: a date that never comes, such as 30 February
        raise ValueError(
            f"schedule {expression!r} never fires (no such date): FlowAPI would never be checked"
        ) from None
    return text


def next_time(expression: str, after: dt.datetime) -> dt.datetime:
    """The first time strictly after ``after`` (naive, host-local) that the schedule fires."""
    result = croniter(expression, after).get_next(dt.datetime)
    assert isinstance(result, dt.datetime)
    return result
