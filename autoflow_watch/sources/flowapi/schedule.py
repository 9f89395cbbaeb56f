"""When the FlowAPI source checks next: every ``poll_interval``, or at each time of a cron ``schedule``.

With ``poll_interval`` the first check is at start-up and the next one an interval after each
successful check. With ``schedule`` (cron, host time zone, as AutoFlow's sensor had) checks happen
only at the schedule's times; ``run --once`` checks at once either way. Errors back off in both
modes, never past the next regular check.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from autoflow_watch.config.cron import next_time
from autoflow_watch.config.model import FlowApiConfig


class PollSchedule:
    """The delays between FlowAPI checks, for either way of configuring them."""

    def __init__(self, config: FlowApiConfig, clock: Callable[[], float] = time.time) -> None:
        self.cron = config.schedule
        self.interval_s = config.poll_interval.total_seconds()
        self._clock = clock
        self._last_target: float | None = None  # the cron time last waited for: never fire it twice

    def first_delay_s(self) -> float:
        """How long to wait before the first check: none with an interval, until the next cron time otherwise."""
        return 0.0 if self.cron is None else self.regular_delay_s()

    def regular_delay_s(self) -> float:
        """The wait until the next regular check, counted from now."""
        if self.cron is None:
            return self.interval_s
        now = self._clock()
        base = max(now, self._last_target or now)
        target = next_time(self.cron, dt.datetime.fromtimestamp(base)).timestamp()
        self._last_target = target
        return max(0.0, target - now)

    def next_check_at(self, delay_s: float) -> str:
        """The wall-clock time, ISO 8601 with the host's offset, of a check ``delay_s`` from now."""
        moment = dt.datetime.fromtimestamp(self._clock() + delay_s).astimezone()
        return moment.isoformat(timespec="seconds")

    def describe(self) -> str:
        return f"schedule {self.cron!r}" if self.cron else f"every {self.interval_s:g}s"


def next_scheduled_check(config: FlowApiConfig, now: float | None = None) -> str | None:
    """For ``status``: when a cron-scheduled daemon checks FlowAPI next (None with ``poll_interval``)."""
    if config.schedule is None:
        return None
    schedule = PollSchedule(config, clock=(lambda: now) if now is not None else time.time)
    return schedule.next_check_at(schedule.regular_delay_s())
