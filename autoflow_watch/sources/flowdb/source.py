"""The FlowDB source: FlowETL's ``etl.etl_records`` read directly, prompted by NOTIFY when it can be.

One dedicated, read-only connection. With ``listen = true`` it LISTENs on
:data:`~autoflow_watch.sources.flowdb_rows.CHANNEL` before its first poll, so nothing
committed in between is missed; a notification (from the shipped trigger) prompts a poll at
once, and the source still polls every ``poll_interval`` as a safety net. Without the trigger,
or with ``listen = false``, it polls; it says which mode it is in at start and when that
changes. A notification is only a prompt: each poll reads the table itself, so a NOTIFY from
anyone else on the channel cannot invent a date.

A lost connection is reopened with a doubling backoff, LISTENed again and followed by a
catch-up poll. A FlowDB that is down, slow or refusing is logged once per outage
(:mod:`~autoflow_watch.sources.flowdb.report`) and never raises into the daemon.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import psycopg

from autoflow_watch.config.model import FlowDbConfig
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.flowdb.connect import classify, connect, safe_url
from autoflow_watch.sources.flowdb.report import Mode, Reporter
from autoflow_watch.sources.flowdb.rows import AVAILABLE_SQL, CHANNEL, TRIGGER, TRIGGER_SQL, facts_from_rows
from autoflow_watch.sources.polling import HEALTH_MARGIN_S, MaybeRecordFacts, PollingSource
from autoflow_watch.sources.source import PollError, PollOutcome
from autoflow_watch.vocabulary import Fact

__all__ = ["FlowDbSource", "Mode", "PollOutcome"]

log = get_logger("autoflow_watch.flowdb")

RETRY_START_S = 1.0
MAX_RETRY_S = 60.0  # a restarted FlowDB is noticed within a minute, whatever poll_interval is
WAIT_SLICE_S = 1.0  # how often the loop looks at its stop event and beats while it waits
COALESCE_S = 0.05  # notifications arriving this close together prompt one poll
PROMPT_EVERY_S = 1.0  # a flood of notifications prompts at most one poll this often
MAX_BACKLOG = 64  # notifications kept while a poll runs: each is only a prompt, so older ones may go


class FlowDbSource(PollingSource):
    """Reads available days from FlowDB and records them as facts (:class:`PollingSource` owns the loop).

    ``record`` gets, once per poll, the facts this source has not recorded yet (one batch, one
    transaction). ``retry_start_s``, ``max_retry_s`` and ``health_margin_s`` exist for tests.
    """

    name = "flowdb"
    label = "FlowDB"
    thread_name = "flowdb-listener"

    def __init__(
        self,
        config: FlowDbConfig,
        record: MaybeRecordFacts,
        *,
        on_new_facts: Callable[[], None] | None = None,
        on_failed_poll: Callable[[], None] | None = None,
        retry_start_s: float = RETRY_START_S,
        max_retry_s: float = MAX_RETRY_S,
        health_margin_s: float = HEALTH_MARGIN_S,
    ) -> None:
        reporter = Reporter(safe_url(config))
        super().__init__(
            record,
            reporter,
            on_new_facts=on_new_facts,
            on_failed_poll=on_failed_poll,
            retry_start_s=retry_start_s,
            max_retry_s=max_retry_s,
            health_margin_s=health_margin_s,
        )
        self.config = config
        self._reporter = reporter
        self._conn: psycopg.Connection[Any] | None = None
        self._prompted = False
        self._last_poll = -PROMPT_EVERY_S  # monotonic time of the last poll

    # -- how often -----------------------------------------------------------------------------------
    def regular_delay_s(self) -> float:
        return self.config.poll_interval.total_seconds()

    def silence_limit_s(self) -> float:
        return 2 * self.config.timeout.total_seconds() + WAIT_SLICE_S

    # -- how to ask, and what the answer means ------------------------------------------------------
    def ask(self, stop: threading.Event | None) -> PollOutcome:
        self._prompted, self._last_poll = False, time.monotonic()
        listen = stop is not None and self.config.listen  # ``run --once`` only polls
        conn = self._connection(listen)
        if listen:
            self._say_mode(conn)
        elif not self.config.listen:
            self._reporter.mode(Mode.POLL, "listen = false")
        rows = conn.execute(AVAILABLE_SQL).fetchall()
        availability = facts_from_rows(rows)
        self._reporter.skipped(availability.skipped)
        new = self.record(availability.facts)
        return PollOutcome(ok=True, facts=len(availability.facts), new_facts=new, skipped=len(availability.skipped))

    def record(self, facts: list[Fact]) -> int:
        """Only the facts not recorded before, as one batch."""
        fresh = [fact for fact in facts if not self.recorded_before(fact)]
        return super().record(fresh) if fresh else 0

    def describe(self, error: Exception) -> PollError:
        """Close the connection (it is reopened at the next try) and say what ``error`` means."""
        self.close()
        if isinstance(error, psycopg.Error):
            return classify(error)
        return super().describe(error)

    def _connection(self, listen: bool) -> psycopg.Connection[Any]:
        """The open connection, or a new one (LISTENing before it is first polled)."""
        if self._conn is not None and not self._conn.broken and not self._conn.closed:
            return self._conn
        self.close()
        conn = connect(self.config)
        try:
            if listen:
                conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        _bound_backlog(conn)
        self._conn = conn
        return conn

    def _say_mode(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute(TRIGGER_SQL, (TRIGGER,)).fetchone()
        if row is not None and row[0]:
            self._reporter.mode(Mode.LISTEN, f"trigger {TRIGGER} on etl.etl_records notifies channel {CHANNEL}")
        else:
            self._reporter.mode(
                Mode.POLL,
                f"no trigger {TRIGGER} on etl.etl_records: polling every {self.config.poll_interval}; "
                "install it with `autoflow-watch flowdb-sql | psql ...` (docs/flowdb.md)",
            )

    # -- waiting for a notification ----------------------------------------------------------------
    def wait(self, stop: threading.Event, delay_s: float) -> bool:
        """Wait for the next regular poll, or for a notification that prompts one sooner."""
        next_poll = time.monotonic() + delay_s
        while not stop.is_set():
            self.beat()
            now = time.monotonic()
            prompt_at = self._last_poll + PROMPT_EVERY_S  # a flood is coalesced into one poll a second
            if (self._prompted and now >= prompt_at) or now >= next_poll:
                return False
            failed = self._wait_slice(stop, min(next_poll, prompt_at) if self._prompted else next_poll)
            if failed is not None:
                next_poll = time.monotonic() + failed.next_poll_s
        return True

    def _wait_slice(self, stop: threading.Event, until: float) -> PollOutcome | None:
        """Wait up to one slice for a notification; a lost connection is a reported failure."""
        timeout = max(0.0, min(WAIT_SLICE_S, until - time.monotonic()))
        conn = self._conn
        if conn is None:
            stop.wait(timeout)
            return None
        try:
            # once prompted, every notification until the poll is drained here and counts for nothing more
            for notice in conn.notifies(timeout=timeout, stop_after=None if self._prompted else 1):
                if not self._prompted:
                    log.debug("flowdb.notified", channel=notice.channel, payload=notice.payload[:200])
                self._prompted = True
            if self._prompted:
                for _ in conn.notifies(timeout=COALESCE_S):  # a burst of commits: one poll
                    pass
        except Exception as error:
            return self.failed_between_polls(error)
        return None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken connection must not fail the source
                log.debug("flowdb.close_failed", url=self._reporter.url)


def _bound_backlog(conn: psycopg.Connection[Any]) -> None:
    """psycopg keeps every notification that arrives while no ``notifies()`` runs (during a poll) in an
    unbounded deque; a flood would grow it without end. Only the newest few are kept: each is a prompt."""
    backlog = getattr(conn, "_notifies_backlog", None)
    if isinstance(backlog, deque):
        conn._notifies_backlog = deque(backlog, maxlen=MAX_BACKLOG)
