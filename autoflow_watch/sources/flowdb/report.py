"""What the FlowDB source logs, and when: an outage once, its end once, odd rows once each.

A FlowDB that is down for a night must not write a line at every retry: a failure is logged
when an outage starts or its kind changes (a restart that turns into a refused password is
news), reminded hourly while it lasts, repeated at debug only, and its end says how long it
lasted. Which mode the source is in (LISTEN or polling) is said at start and when it changes.
Nothing here sees the password.
"""

from __future__ import annotations

import enum
from typing import Any

from autoflow_watch.logs import get_logger
from autoflow_watch.sources.flowdb.rows import SkippedRow
from autoflow_watch.sources.outage import OutageLog, Wording
from autoflow_watch.sources.source import PollFailure

log = get_logger("autoflow_watch.flowdb")

HINTS = {
    PollFailure.REFUSED: "check [flowdb] url's user and the password (password_file or PGPASSFILE)",
    PollFailure.NO_PRIVILEGE: "GRANT USAGE ON SCHEMA etl, SELECT ON etl.etl_records TO the reader role",
    PollFailure.NO_TABLE: "[flowdb] url must name FlowDB's database (FlowETL's etl.etl_records)",
    PollFailure.PASSWORD_FILE: "put the password in that file (re-read at every connection)",
    PollFailure.TIMEOUT: "FlowDB is slow or etl.etl_records is locked; retrying",
    PollFailure.UNREACHABLE: "retrying with backoff; the catch-up poll after reconnecting finds what was missed",
}
# Conditions a person must fix (a password, a grant, a URL) are errors, not warnings.
NEEDS_ACTION = frozenset(
    {PollFailure.REFUSED, PollFailure.NO_PRIVILEGE, PollFailure.NO_TABLE, PollFailure.PASSWORD_FILE}
)
WORDING = Wording(
    logger="autoflow_watch.flowdb",
    failed="flowdb.unavailable",
    recovered="flowdb.available_again",
    ok="flowdb.poll.ok",
    was_key="was",
    needs_action=NEEDS_ACTION,
    hints=HINTS,
)


class Mode(str, enum.Enum):
    """How new days reach the source."""

    LISTEN = "listen"  # the trigger NOTIFYs; polls every poll_interval as a safety net
    POLL = "poll"  # every poll_interval only


class Reporter(OutageLog):
    """FlowDB's poll lines (:class:`OutageLog`), and what only FlowDB says: its mode, odd rows."""

    def __init__(self, url: str) -> None:
        super().__init__(url, WORDING)
        self._mode: tuple[Mode, str] | None = None

    def mode(self, mode: Mode, reason: str) -> None:
        if self._mode != (mode, reason):
            self._mode = (mode, reason)
            log.info("flowdb.mode", mode=mode.value, url=self.url, reason=reason)

    def skipped(self, skipped: list[SkippedRow]) -> None:
        """Warn about each odd row once (not at every poll)."""
        self.warn_once(skipped, _describe_row, "flowdb.row.skipped_more")


def _describe_row(row: SkippedRow) -> tuple[str, dict[str, Any]]:
    return "flowdb.row.skipped", {"cdr_type": row.cdr_type, "cdr_date": row.cdr_date, "reason": row.reason}
