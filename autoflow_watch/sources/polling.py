"""The polling source's life, written once: loop, heartbeat, backoff, outage log, recording facts.

Like watchdog's ``EventEmitter.run()``, :class:`PollingSource` owns the loop and a subclass
says only what is its own: how to ask (:meth:`PollingSource.ask`), what an answer means (the
facts it hands to :meth:`PollingSource.record`), how often to ask, and, if it can be prompted,
how to wait. A failing server is logged once per outage (:mod:`~autoflow_watch.sources.outage`)
and retried with a doubling backoff; nothing a server does raises into the daemon.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from autoflow_watch.logs import get_logger
from autoflow_watch.sources.outage import OutageLog
from autoflow_watch.sources.source import PollError, PollFailure, PollOutcome, SourceContext
from autoflow_watch.vocabulary import Fact, FactChange

MIN_DELAY_S = 0.1  # even a zero poll_interval must not spin
HEALTH_MARGIN_S = 60.0
STOP_WAIT_S = 10.0

# How a polling source records: as the daemon's ``RecordFacts``, or returning None when the
# recorder cannot tell (tests): facts the source has not recorded before then count as new.
MaybeRecordFacts = Callable[[list[Fact]], "Sequence[FactChange] | None"]


class PollingSource:
    """A source that asks a server for facts now and then; see the module's docstring.

    ``record`` gets each poll's facts (one batch, one transaction); ``on_new_facts`` is called
    from the polling thread after new facts were recorded, ``on_failed_poll`` after each failed
    poll (metrics): keep both quick. ``retry_start_s``, ``max_retry_s`` and ``health_margin_s``
    exist for tests.
    """

    name = "source"  # the config section, the health check's and the metric's label
    label = "the source"  # how messages name the server, e.g. "FlowDB"
    thread_name = ""  # default: "<name>-poller"

    def __init__(
        self,
        record: MaybeRecordFacts,
        report: OutageLog,
        *,
        on_new_facts: Callable[[], None] | None = None,
        on_failed_poll: Callable[[], None] | None = None,
        retry_start_s: float,
        max_retry_s: float = math.inf,
        health_margin_s: float = HEALTH_MARGIN_S,
    ) -> None:
        self._record = record
        self._report = report
        self._on_new_facts = on_new_facts
        self._on_failed_poll = on_failed_poll
        self._retry_start_s = retry_start_s
        self._max_retry_s = max_retry_s
        self._health_margin_s = health_margin_s
        self._log = get_logger(f"autoflow_watch.{self.name}")
        self._recorded: set[tuple[str, object]] = set()
        self._failures = 0
        self._lock = threading.Lock()  # heartbeat and state read by the daemon's threads
        self._polling = threading.Lock()  # one poll at a time, whoever calls
        self._heartbeat: float | None = None
        self._looping = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- what the daemon asks (:class:`~autoflow_watch.sources.source.Source`) ----------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Poll in a thread of its own until :meth:`stop`."""
        self._stop.clear()
        name = self.thread_name or f"{self.name}-poller"
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_WAIT_S)

    def reload(self, ctx: SourceContext) -> bool:
        """A new configuration: nothing to do by default (the daemon keeps this source)."""
        return False

    def poll_once(self) -> PollOutcome:
        """Poll once in the foreground and let go of any connection; never raises (``run --once``)."""
        try:
            return self._cycle(None)
        finally:
            self.close()

    def run(self, stop: threading.Event) -> None:
        """Poll, then wait (backing off after a failure), until ``stop`` is set."""
        with self._lock:
            self._looping, self._heartbeat = True, time.monotonic()
        try:
            first = self.first_delay_s()
            if first > 0 and self.wait(stop, first):
                return
            while not stop.is_set():
                outcome = self._cycle(stop)
                if outcome.failure is PollFailure.STOPPED:
                    break
                self.polled(outcome)
                if self.wait(stop, outcome.next_poll_s):
                    break
        finally:
            self.close()
            with self._lock:
                self._looping = False
            self._log.debug(f"{self.name}.stopped", url=self._report.url)

    def healthy(self) -> bool:
        """False only when the loop is stuck; a failing server is not unhealthy."""
        with self._lock:
            if not self._looping or self._heartbeat is None:
                return True
            age = time.monotonic() - self._heartbeat
        return age < self.silence_limit_s() + self._health_margin_s

    # -- what a subclass says ------------------------------------------------------------------------
    def ask(self, stop: threading.Event | None) -> PollOutcome:
        """Ask the server once, :meth:`record` the facts of its answer and say what happened.

        Raise :class:`PollError` (or anything: :meth:`describe` names it) when the poll failed.
        """
        raise NotImplementedError

    def regular_delay_s(self) -> float:
        """How long until the next regular poll (after a good one; the backoff's ceiling)."""
        raise NotImplementedError

    def silence_limit_s(self) -> float:
        """How long the loop may go without a heartbeat before the health margin counts."""
        raise NotImplementedError

    def first_delay_s(self) -> float:
        """How long to wait before the first poll of :meth:`run`."""
        return 0.0

    def polled(self, outcome: PollOutcome) -> None:
        """Called by :meth:`run` after each poll (not after one abandoned at stop)."""

    def wait(self, stop: threading.Event, delay_s: float) -> bool:
        """Wait ``delay_s`` for the next poll; True when ``stop`` was set meanwhile."""
        return stop.wait(delay_s)

    def describe(self, error: Exception) -> PollError:
        """What an exception of a poll means; the default knows only :class:`PollError`."""
        if isinstance(error, PollError):
            return error
        text = " ".join(str(error).split())[:300]
        return PollError(PollFailure.ERROR, f"{type(error).__name__}: {text}")

    def scrub(self, text: str) -> str:
        """A failure's message as logged: a subclass removes its secrets here."""
        return text

    def close(self) -> None:
        """Let go of any connection (after :meth:`poll_once` and when the loop ends)."""

    # -- recording ---------------------------------------------------------------------------------
    def record(self, facts: list[Fact]) -> int:
        """Record the facts as one batch; return how many are new to the store (a store failure is a
        failed poll)."""
        try:
            changes = self._record(facts)
        except Exception as error:
            message = (
                f"recording {self.label} facts failed: {type(error).__name__}: {' '.join(str(error).split())[:300]}"
            )
            raise PollError(PollFailure.STORE, message) from None
        keys = {(fact.dataset, fact.day) for fact in facts}
        if changes is not None:
            new = sum(1 for change in changes if change == FactChange.NEW)
        else:
            new = len(keys - self._recorded)
        self._recorded |= keys
        if new and self._on_new_facts is not None:
            self._on_new_facts()
        return new

    def recorded_before(self, fact: Fact) -> bool:
        """This source recorded the fact already (since it started)."""
        return (fact.dataset, fact.day) in self._recorded

    # -- one poll ------------------------------------------------------------------------------------
    def beat(self) -> None:
        with self._lock:
            self._heartbeat = time.monotonic()

    def _cycle(self, stop: threading.Event | None) -> PollOutcome:
        with self._polling:
            self.beat()
            started = time.monotonic()
            try:
                outcome = self.ask(stop)
            except Exception as error:  # the source must never take the daemon down
                outcome = self._failed(error)
            outcome = replace(outcome, duration_s=time.monotonic() - started, next_poll_s=self._next_poll(outcome))
            self.beat()
            self._reported(outcome)
            return outcome

    def failed_between_polls(self, error: Exception) -> PollOutcome:
        """A failure noticed while waiting (a lost connection): reported as a failed poll is."""
        outcome = self._failed(error)
        outcome = replace(outcome, next_poll_s=self._next_poll(outcome))
        self._reported(outcome)
        return outcome

    def _failed(self, error: Exception) -> PollOutcome:
        described = self.describe(error)
        return PollOutcome(ok=False, failure=described.failure, message=self.scrub(described.message))

    def _reported(self, outcome: PollOutcome) -> None:
        self._report.outcome(outcome, self._failures)
        if not outcome.ok and outcome.failure is not PollFailure.STOPPED and self._on_failed_poll is not None:
            self._on_failed_poll()

    def _next_poll(self, outcome: PollOutcome) -> float:
        interval = max(MIN_DELAY_S, self.regular_delay_s())
        if outcome.ok:
            self._failures = 0
            return interval
        if outcome.failure is PollFailure.STOPPED:
            return 0.0
        self._failures += 1
        backoff = self._retry_start_s * 2 ** min(self._failures - 1, 30)
        return max(MIN_DELAY_S, min(backoff, interval, self._max_retry_s))
