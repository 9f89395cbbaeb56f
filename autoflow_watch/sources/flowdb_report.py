"""What the FlowDB source logs, and when: an outage once, its end once, odd rows once each.

A FlowDB that is down for a night must not write a line at every retry: a failure is logged
when an outage starts or its kind changes (a restart that turns into a refused password is
news), reminded hourly while it lasts, repeated at debug only, and its end says how long it
lasted. Which mode the source is in (LISTEN or polling) is said at start and when it changes.
Nothing here sees the password.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

from autoflow_watch.logs import get_logger
from autoflow_watch.sources.flowdb_connect import FlowDbFailure
from autoflow_watch.sources.flowdb_rows import SkippedRow

log = get_logger("autoflow_watch.flowdb")

REMIND_EVERY_S = 3600.0
MAX_WARNINGS_PER_POLL = 20
HINTS = {
    FlowDbFailure.REFUSED: "check [flowdb] url's user and the password (password_file or PGPASSFILE)",
    FlowDbFailure.NO_PRIVILEGE: "GRANT USAGE ON SCHEMA etl, SELECT ON etl.etl_records TO the reader role",
    FlowDbFailure.NO_TABLE: "[flowdb] url must name FlowDB's database (FlowETL's etl.etl_records)",
    FlowDbFailure.PASSWORD_FILE: "put the password in that file (re-read at every connection)",
    FlowDbFailure.TIMEOUT: "FlowDB is slow or etl.etl_records is locked; retrying",
    FlowDbFailure.UNREACHABLE: "retrying with backoff; the catch-up poll after reconnecting finds what was missed",
}


class Mode(str, enum.Enum):
    """How new days reach the source."""

    LISTEN = "listen"  # the trigger NOTIFYs; polls every poll_interval as a safety net
    POLL = "poll"  # every poll_interval only


@dataclass(frozen=True)
class PollOutcome:
    """What one poll did: ``failure`` is None when it succeeded."""

    ok: bool
    failure: FlowDbFailure | None = None
    facts: int = 0
    new_facts: int = 0
    skipped: int = 0
    message: str = ""
    duration_s: float = 0.0
    next_poll_s: float = 0.0


class Reporter:
    """Turns poll outcomes and mode changes into log lines, remembering what was already said."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._failure: FlowDbFailure | None = None
        self._failing_since = 0.0
        self._last_logged = 0.0
        self._polled_ok = False
        self._mode: tuple[Mode, str] | None = None
        self._warned: set[SkippedRow] = set()

    @property
    def failing(self) -> bool:
        return self._failure is not None

    def mode(self, mode: Mode, reason: str) -> None:
        if self._mode != (mode, reason):
            self._mode = (mode, reason)
            log.info("flowdb.mode", mode=mode.value, url=self.url, reason=reason)

    def outcome(self, outcome: PollOutcome, failures: int) -> None:
        now = time.monotonic()
        if outcome.ok:
            self._succeeded(outcome, now)
        else:
            self._failed(outcome, failures, now)

    def _failed(self, outcome: PollOutcome, failures: int, now: float) -> None:
        failure = outcome.failure or FlowDbFailure.ERROR
        fields: dict[str, Any] = {
            "kind": failure.value,
            "url": self.url,
            "error": outcome.message,
            "next_retry_s": round(outcome.next_poll_s, 1),
            "failures": failures,
            "hint": HINTS.get(failure, "retrying with backoff"),
        }
        if failure != self._failure:
            if self._failure is None:
                self._failing_since = now
            else:
                fields["was"] = self._failure.value
            self._failure, self._last_logged = failure, now
            (log.error if failure.needs_action else log.warning)("flowdb.unavailable", **fields)
        elif now - self._last_logged >= REMIND_EVERY_S:
            self._last_logged = now
            log.warning("flowdb.unavailable", still_failing_s=round(now - self._failing_since), **fields)
        else:
            log.debug("flowdb.unavailable", repeated=True, **fields)

    def _succeeded(self, outcome: PollOutcome, now: float) -> None:
        fields: dict[str, Any] = {
            "url": self.url,
            "facts": outcome.facts,
            "new_facts": outcome.new_facts,
            "duration_ms": round(outcome.duration_s * 1000, 1),
        }
        if self._failure is not None:
            log.info(
                "flowdb.available_again",
                was=self._failure.value,
                failed_for_s=round(now - self._failing_since, 1),
                **fields,
            )
            self._failure = None
        elif outcome.new_facts or not self._polled_ok:
            log.info("flowdb.poll.ok", **fields)
        else:
            log.debug("flowdb.poll.ok", **fields)
        self._polled_ok = True

    def skipped(self, skipped: list[SkippedRow]) -> None:
        """Warn about each odd row once (not at every poll), at most a screenful per poll."""
        fresh = [row for row in skipped if row not in self._warned]
        self._warned = set(skipped)
        for row in fresh[:MAX_WARNINGS_PER_POLL]:
            log.warning(
                "flowdb.row.skipped", url=self.url, cdr_type=row.cdr_type, cdr_date=row.cdr_date, reason=row.reason
            )
        if len(fresh) > MAX_WARNINGS_PER_POLL:
            log.warning("flowdb.row.skipped_more", url=self.url, more=len(fresh) - MAX_WARNINGS_PER_POLL)
