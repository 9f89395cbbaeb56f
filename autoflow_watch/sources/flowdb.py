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
(:mod:`~autoflow_watch.sources.flowdb_report`) and never raises into the daemon.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import psycopg

from autoflow_watch.config.model import FlowDbConfig
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.flowdb_connect import FlowDbError, FlowDbFailure, classify, connect, safe_url
from autoflow_watch.sources.flowdb_report import Mode, PollOutcome, Reporter
from autoflow_watch.sources.flowdb_rows import AVAILABLE_SQL, CHANNEL, TRIGGER, TRIGGER_SQL, facts_from_rows
from autoflow_watch.store.records import Fact, FactChange

__all__ = ["FlowDbSource", "Mode", "PollOutcome"]

log = get_logger("autoflow_watch.flowdb")

RETRY_START_S = 1.0
MAX_RETRY_S = 60.0  # a restarted FlowDB is noticed within a minute, whatever poll_interval is
MIN_DELAY_S = 0.1
WAIT_SLICE_S = 1.0  # how often the loop looks at its stop event and beats while it waits
COALESCE_S = 0.05  # notifications arriving this close together prompt one poll
PROMPT_EVERY_S = 1.0  # a flood of notifications prompts at most one poll this often
MAX_BACKLOG = 64  # notifications kept while a poll runs: each is only a prompt, so older ones may go
HEALTH_MARGIN_S = 60.0

RecordFacts = Callable[[list[Fact]], "Mapping[Fact, FactChange] | None"]


class FlowDbSource:
    """Reads available days from FlowDB and records them as facts; owned and driven by the daemon.

    ``record`` gets, once per poll, the facts this source has not recorded yet (one batch, one
    transaction). ``on_new_facts`` is called from the source's thread after new facts were
    recorded, and ``on_failed_poll`` after each failed poll (metrics): keep them quick.
    ``retry_start_s``, ``max_retry_s`` and ``health_margin_s`` exist for tests.
    """

    def __init__(
        self,
        config: FlowDbConfig,
        record: RecordFacts,
        *,
        on_new_facts: Callable[[], None] | None = None,
        on_failed_poll: Callable[[], None] | None = None,
        retry_start_s: float = RETRY_START_S,
        max_retry_s: float = MAX_RETRY_S,
        health_margin_s: float = HEALTH_MARGIN_S,
    ) -> None:
        self.config = config
        self._record = record
        self._on_new_facts = on_new_facts
        self._on_failed_poll = on_failed_poll
        self._retry_start_s = retry_start_s
        self._max_retry_s = max_retry_s
        self._health_margin_s = health_margin_s
        self._report = Reporter(safe_url(config))
        self._conn: psycopg.Connection[Any] | None = None
        self._recorded: set[tuple[str, dt.date]] = set()
        self._failures = 0
        self._prompted = False
        self._last_poll = -PROMPT_EVERY_S  # monotonic time of the last poll
        self._lock = threading.Lock()  # heartbeat, read by the daemon's health checks
        self._polling = threading.Lock()  # one poll at a time, whoever calls
        self._heartbeat: float | None = None
        self._running = False

    # -- the daemon's interface -----------------------------------------------------------------
    def poll_once(self) -> PollOutcome:
        """Connect, poll once, disconnect; never raises (``run --once``)."""
        try:
            return self._cycle(listen=False)
        finally:
            self._close()

    def run(self, stop: threading.Event) -> None:
        """Poll at start, on each notification and every ``poll_interval`` until ``stop`` is set."""
        with self._lock:
            self._running, self._heartbeat = True, time.monotonic()
        next_poll = time.monotonic()
        try:
            while not stop.is_set():
                self._beat()
                now = time.monotonic()
                prompt_at = self._last_poll + PROMPT_EVERY_S  # a flood is coalesced into one poll a second
                if (self._prompted and now >= prompt_at) or now >= next_poll:
                    self._prompted, self._last_poll = False, now
                    next_poll = now + self._cycle(listen=self.config.listen).next_poll_s
                    continue
                failed = self._wait(stop, min(next_poll, prompt_at) if self._prompted else next_poll)
                if failed is not None:
                    next_poll = time.monotonic() + failed.next_poll_s
        finally:
            self._close()
            with self._lock:
                self._running = False
            log.debug("flowdb.stopped", url=self._report.url)

    def healthy(self) -> bool:
        """False only when the loop is stuck; a failing FlowDB is not unhealthy."""
        with self._lock:
            if not self._running or self._heartbeat is None:
                return True
            age = time.monotonic() - self._heartbeat
        return age < 2 * self.config.timeout.total_seconds() + WAIT_SLICE_S + self._health_margin_s

    # -- one poll --------------------------------------------------------------------------------
    def _beat(self) -> None:
        with self._lock:
            self._heartbeat = time.monotonic()

    def _cycle(self, *, listen: bool) -> PollOutcome:
        with self._polling:
            started = time.monotonic()
            try:
                outcome = self._poll(listen)
            except Exception as error:  # the source must never take the daemon down
                outcome = self._failure(error)
            outcome = replace(outcome, duration_s=time.monotonic() - started, next_poll_s=self._next_poll(outcome))
            self._beat()
            self._reported(outcome)
            return outcome

    def _reported(self, outcome: PollOutcome) -> None:
        self._report.outcome(outcome, self._failures)
        if not outcome.ok and self._on_failed_poll is not None:
            self._on_failed_poll()

    def _poll(self, listen: bool) -> PollOutcome:
        conn = self._connection(listen)
        if listen:
            self._say_mode(conn)
        elif not self.config.listen:
            self._report.mode(Mode.POLL, "listen = false")
        rows = conn.execute(AVAILABLE_SQL).fetchall()
        availability = facts_from_rows(rows)
        self._report.skipped(availability.skipped)
        new = self._store(availability.facts)
        if new and self._on_new_facts is not None:
            self._on_new_facts()
        return PollOutcome(ok=True, facts=len(availability.facts), new_facts=new, skipped=len(availability.skipped))

    def _connection(self, listen: bool) -> psycopg.Connection[Any]:
        """The open connection, or a new one (LISTENing before it is first polled)."""
        if self._conn is not None and not self._conn.broken and not self._conn.closed:
            return self._conn
        self._close()
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
            self._report.mode(Mode.LISTEN, f"trigger {TRIGGER} on etl.etl_records notifies channel {CHANNEL}")
        else:
            self._report.mode(
                Mode.POLL,
                f"no trigger {TRIGGER} on etl.etl_records: polling every {self.config.poll_interval}; "
                "install it with `autoflow-watch flowdb-sql | psql ...` (docs/flowdb.md)",
            )

    def _store(self, facts: list[Fact]) -> int:
        """Record the facts not recorded before, as one batch; return how many are new to the store."""
        fresh = [fact for fact in facts if (fact.dataset, fact.day) not in self._recorded]
        if not fresh:
            return 0
        try:
            changes = self._record(fresh)
        except Exception as error:
            message = f"recording FlowDB facts failed: {type(error).__name__}: {' '.join(str(error).split())[:300]}"
            raise FlowDbError(FlowDbFailure.STORE, message) from None
        self._recorded.update((fact.dataset, fact.day) for fact in fresh)
        if isinstance(changes, Mapping):
            return sum(1 for change in changes.values() if change == FactChange.NEW)
        return len(fresh)

    def _failure(self, error: Exception) -> PollOutcome:
        """Close the connection (it is reopened at the next try) and describe ``error``."""
        self._close()
        if not isinstance(error, FlowDbError):
            if isinstance(error, psycopg.Error):
                error = classify(error)
            else:
                text = " ".join(str(error).split())[:300]
                error = FlowDbError(FlowDbFailure.ERROR, f"{type(error).__name__}: {text}")
        return PollOutcome(ok=False, failure=error.failure, message=error.message)

    def _next_poll(self, outcome: PollOutcome) -> float:
        interval = max(MIN_DELAY_S, self.config.poll_interval.total_seconds())
        if outcome.ok:
            self._failures = 0
            return interval
        self._failures += 1
        backoff = self._retry_start_s * 2 ** min(self._failures - 1, 30)
        return max(MIN_DELAY_S, min(backoff, interval, self._max_retry_s))

    # -- waiting for a notification ----------------------------------------------------------------
    def _wait(self, stop: threading.Event, until: float) -> PollOutcome | None:
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
            outcome = self._failure(error)
            outcome = replace(outcome, next_poll_s=self._next_poll(outcome))
            self._reported(outcome)
            return outcome
        return None

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken connection must not fail the source
                log.debug("flowdb.close_failed", url=self._report.url)


def _bound_backlog(conn: psycopg.Connection[Any]) -> None:
    """psycopg keeps every notification that arrives while no ``notifies()`` runs (during a poll) in an
    unbounded deque; a flood would grow it without end. Only the newest few are kept: each is a prompt."""
    backlog = getattr(conn, "_notifies_backlog", None)
    if isinstance(backlog, deque):
        conn._notifies_backlog = deque(backlog, maxlen=MAX_BACKLOG)
