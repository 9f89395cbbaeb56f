"""The FlowAPI source: poll ``get_available_dates`` and record each (CDR type, date) as a fact.

Every type the server lists (``calls``, ``sms``, ``mds``, ``topups`` or any other) becomes a
dataset; workflows choose their datasets. The answer is data, not instructions: names and
dates are validated and anything odd is skipped with a warning. A slow, failing or refusing
FlowAPI is logged (once per condition, not once per poll) and retried with a doubling
backoff capped at ``poll_interval``; it never raises into the daemon and never blocks it for
longer than ``timeout``. The token never reaches a log line or an exception message.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.flowapi_answer import facts_from_answer
from autoflow_watch.sources.flowapi_fetch import PollError, Requester
from autoflow_watch.sources.flowapi_report import PollOutcome, PollReporter, safe_url, unauthorized_hint
from autoflow_watch.sources.flowapi_schedule import PollSchedule
from autoflow_watch.sources.flowapi_token import FlowApiTokenError, TokenCache, read_token, scrub
from autoflow_watch.store.records import Fact, FactChange

__all__ = ["FlowApiSource", "FlowApiTokenError", "PollOutcome", "facts_from_answer", "read_token", "safe_url"]

log = get_logger("autoflow_watch.flowapi")

RETRY_START_S = 5.0
HEALTH_MARGIN_S = 60.0
MIN_DELAY_S = 0.1  # even a zero poll_interval must not spin

RecordFacts = Callable[[list[Fact]], "Mapping[Fact, FactChange] | None"]


class FlowApiSource:
    """Polls FlowAPI and records facts; owned and driven by the daemon.

    ``record`` receives every validated fact of each poll (level-triggered: the store
    tells known from new). When it returns the store's ``{fact: FactChange}`` mapping, NEW
    entries are counted; otherwise facts this source has not recorded before are.
    ``on_new_facts`` is called from the polling thread after new facts are recorded: keep it
    quick (set an event). ``retry_start_s`` and ``health_margin_s`` exist for tests.
    """

    def __init__(
        self,
        config: FlowApiConfig,
        record: RecordFacts,
        *,
        on_new_facts: Callable[[], None] | None = None,
        wanted: Mapping[str, Iterable[str]] | None = None,
        retry_start_s: float = RETRY_START_S,
        health_margin_s: float = HEALTH_MARGIN_S,
        on_failed_poll: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self._record = record
        self._on_new_facts = on_new_facts
        self._on_failed_poll = on_failed_poll
        self._retry_start_s = retry_start_s
        self._health_margin_s = health_margin_s
        self._tokens = TokenCache(config)
        self._requester = Requester(config)
        self._report = PollReporter(config)
        self._schedule = PollSchedule(config)
        self._expected_wait_s = config.poll_interval.total_seconds()
        self._lock = threading.Lock()  # state shared with the daemon's threads (health, wanted)
        self._polling = threading.Lock()  # one poll at a time, whoever calls
        self._wanted: dict[str, tuple[str, ...]] = {}
        self._wanted_changed = False
        self._seen: set[tuple[str, dt.date]] = set()
        self._failures = 0
        self._token_generation = 0
        self._heartbeat: float | None = None
        self._running = False
        if wanted is not None:
            self.set_wanted(wanted)
        self._report.transport_security()

    # -- the daemon's interface -----------------------------------------------------------------
    def set_wanted(self, datasets_by_workflow: Mapping[str, Iterable[str]]) -> None:
        """Which workflows wait for which datasets, to warn when FlowAPI does not list one.

        Call again after a config reload. A dataset FlowAPI does not list may still come from
        the inbox, so this is a warning (once per change), not an error.
        """
        by_dataset: dict[str, list[str]] = {}
        for workflow, datasets in datasets_by_workflow.items():
            for dataset in datasets:
                by_dataset.setdefault(dataset, []).append(workflow)
        with self._lock:
            self._wanted = {d: tuple(sorted(w)) for d, w in by_dataset.items()}
            self._wanted_changed = True

    def token(self) -> str | None:
        """The current token for kernels of ``flowapi_token = true`` workflows; None if unusable."""
        try:
            return self._tokens.current()
        except FlowApiTokenError:
            return None

    def poll_once(self) -> PollOutcome:
        """Poll once and record what FlowAPI lists; never raises (used by ``run --once``)."""
        return self._cycle(None)

    def run(self, stop: threading.Event) -> None:
        """Poll every ``poll_interval`` or at each ``schedule`` time (backing off on errors) until ``stop``."""
        with self._lock:
            self._running = True
            self._heartbeat = time.monotonic()
        try:
            first = self._schedule.first_delay_s()
            if self._schedule.cron is not None:
                self._announce(first)
            if first > 0 and self._wait(stop, first):
                return
            while not stop.is_set():
                outcome = self._cycle(stop)
                self._beat()
                if outcome.kind == "stopped":
                    break
                if self._schedule.cron is not None and outcome.ok:
                    self._announce(outcome.next_poll_s)
                if self._wait(stop, outcome.next_poll_s):
                    break
        finally:
            with self._lock:
                self._running = False
            log.debug("flowapi.stopped", url=self._report.url)

    def healthy(self) -> bool:
        """False only when the polling loop is stuck; a failing FlowAPI is not unhealthy."""
        with self._lock:
            if not self._running or self._heartbeat is None:
                return True
            age = time.monotonic() - self._heartbeat
            waiting = self._expected_wait_s
        limit = waiting + self.config.timeout.total_seconds() + self._health_margin_s
        return age < limit

    def _wait(self, stop: threading.Event, delay_s: float) -> bool:
        """Wait ``delay_s`` (the health check knows how long); True when stopped meanwhile."""
        with self._lock:
            self._expected_wait_s = delay_s if self._schedule.cron is not None else self._schedule.interval_s
        return stop.wait(delay_s)

    def _announce(self, delay_s: float) -> None:
        log.info(
            "flowapi.next_check",
            url=self._report.url,
            schedule=self._schedule.cron,
            next_check=self._schedule.next_check_at(delay_s),
            in_s=round(delay_s, 1),
        )

    # -- one poll ------------------------------------------------------------------------------------
    def _beat(self) -> None:
        with self._lock:
            self._heartbeat = time.monotonic()

    def _cycle(self, stop: threading.Event | None) -> PollOutcome:
        with self._polling:
            return self._cycle_locked(stop)

    def _cycle_locked(self, stop: threading.Event | None) -> PollOutcome:
        self._beat()
        started = time.monotonic()
        try:
            outcome = self._poll(stop)
        except PollError as error:
            outcome = PollOutcome(ok=False, kind=error.kind, message=self._scrub(error.message))
        except Exception as error:  # the source must never take the daemon down
            outcome = PollOutcome(ok=False, kind="error", message=self._scrub(f"{type(error).__name__}: {error}"))
        outcome = replace(outcome, duration_s=time.monotonic() - started, next_poll_s=self._next_poll(outcome))
        self._beat()
        self._report.outcome(outcome, self._failures)
        if not outcome.ok and outcome.kind != "stopped" and self._on_failed_poll is not None:
            self._on_failed_poll()
        return outcome

    def _poll(self, stop: threading.Event | None) -> PollOutcome:
        try:
            token = self._tokens.current()
        except FlowApiTokenError as error:
            raise PollError("token", str(error)) from None
        self._note_token()
        try:
            answer = self._requester.fetch(token, stop)
        except PollError as error:
            if error.kind == "unauthorized":
                hint = unauthorized_hint(self.config, self._tokens.claims())
                raise PollError(error.kind, error.message + hint) from None
            raise
        parsed = facts_from_answer(answer)
        self._report.skipped(parsed.skipped)
        new = self._store(parsed.facts)
        if new and self._on_new_facts is not None:
            self._on_new_facts()
        with self._lock:
            wanted, changed, self._wanted_changed = dict(self._wanted), self._wanted_changed, False
        if changed:
            self._report.forget_not_listed()  # a reload: say again what is still missing
        self._report.not_listed(wanted, set(parsed.datasets))
        return PollOutcome(
            ok=True, facts=len(parsed.facts), new_facts=new, datasets=parsed.datasets, skipped=len(parsed.skipped)
        )

    def _store(self, facts: list[Fact]) -> int:
        """Record the facts; the number of them that are new."""
        try:
            changes = self._record(facts)
        except Exception as error:
            raise PollError("store_error", f"recording FlowAPI facts failed: {type(error).__name__}: {error}") from None
        keys = {(f.dataset, f.day) for f in facts}
        if isinstance(changes, Mapping):
            new = sum(1 for change in changes.values() if change == FactChange.NEW)
        else:
            new = len(keys - self._seen)
        self._seen = keys
        return new

    def _next_poll(self, outcome: PollOutcome) -> float:
        interval = self._schedule.regular_delay_s()  # until the next regular check (cron: from now)
        if outcome.ok:
            self._failures = 0
            return max(MIN_DELAY_S, interval)
        if outcome.kind == "stopped":
            return 0.0
        self._failures += 1
        return max(MIN_DELAY_S, min(self._retry_start_s * 2 ** min(self._failures - 1, 30), interval))

    def _scrub(self, text: str) -> str:
        return scrub(text, self._tokens.known_secrets())

    def _note_token(self) -> None:
        """Log (without the token) when a new token was loaded: start-up or rotation."""
        generation = self._tokens.generation
        if generation != self._token_generation:
            rotated = self._token_generation != 0
            self._token_generation = generation
            self._report.token_loaded(self._tokens.claims(), rotated)
