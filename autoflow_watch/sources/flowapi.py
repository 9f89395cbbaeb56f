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
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.flowapi_answer import Skipped, facts_from_answer, show
from autoflow_watch.sources.flowapi_fetch import PollError, Requester
from autoflow_watch.sources.flowapi_token import (
    FlowApiTokenError,
    TokenCache,
    expiry,
    read_token,
    scrub,
    token_origin,
)
from autoflow_watch.store.records import Fact, FactChange

__all__ = ["FlowApiSource", "FlowApiTokenError", "PollOutcome", "facts_from_answer", "read_token"]

log = get_logger("autoflow_watch.flowapi")

RETRY_START_S = 5.0
REMIND_EVERY_S = 3600.0  # a condition that persists is logged again at most this often
HEALTH_MARGIN_S = 60.0
MAX_WARNINGS_PER_POLL = 20
# Conditions that need a person (a new token, a permission) are errors; the rest are warnings.
_NEEDS_ACTION = {"unauthorized", "forbidden", "token", "tls"}

RecordFacts = Callable[[list[Fact]], "Mapping[Fact, FactChange] | None"]


@dataclass(frozen=True)
class PollOutcome:
    """What one poll did: ``kind`` is None when it succeeded, else why it failed."""

    ok: bool
    kind: str | None = None
    facts: int = 0
    new_facts: int = 0
    datasets: tuple[str, ...] = ()
    skipped: int = 0
    message: str = ""
    duration_s: float = 0.0
    next_poll_s: float = 0.0


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
    ) -> None:
        self.config = config
        self._record = record
        self._on_new_facts = on_new_facts
        self._retry_start_s = retry_start_s
        self._health_margin_s = health_margin_s
        self._tokens = TokenCache(config)
        self._requester = Requester(config)
        self._lock = threading.Lock()
        self._wanted: dict[str, tuple[str, ...]] = {}
        self._seen: set[tuple[str, dt.date]] = set()
        self._failures = 0
        self._failure: tuple[str, str] | None = None  # (kind, message) of the current condition
        self._failing_since = 0.0
        self._last_logged = 0.0
        self._polled_ok = False
        self._warned: set[Skipped] = set()
        self._not_listed: frozenset[str] = frozenset()
        self._token_generation = 0
        self._heartbeat: float | None = None
        self._running = False
        if wanted is not None:
            self.set_wanted(wanted)
        self._note_insecure_url()

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
            self._not_listed = frozenset()

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
        """Poll every ``poll_interval`` (backing off on errors) until ``stop`` is set."""
        with self._lock:
            self._running = True
            self._heartbeat = time.monotonic()
        try:
            while not stop.is_set():
                outcome = self._cycle(stop)
                self._beat()
                if outcome.kind == "stopped" or stop.wait(outcome.next_poll_s):
                    break
        finally:
            with self._lock:
                self._running = False
            log.debug("flowapi.stopped", url=self.config.url)

    def healthy(self) -> bool:
        """False only when the polling loop is stuck; a failing FlowAPI is not unhealthy."""
        with self._lock:
            if not self._running or self._heartbeat is None:
                return True
            age = time.monotonic() - self._heartbeat
        limit = self.config.poll_interval.total_seconds() + self.config.timeout.total_seconds() + self._health_margin_s
        return age < limit

    # -- one poll ------------------------------------------------------------------------------------
    def _beat(self) -> None:
        with self._lock:
            self._heartbeat = time.monotonic()

    def _cycle(self, stop: threading.Event | None) -> PollOutcome:
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
        self._report(outcome)
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
                raise PollError(error.kind, error.message + self._unauthorized_hint()) from None
            raise
        parsed = facts_from_answer(answer)
        self._warn_skipped(parsed.skipped)
        new = self._store(parsed.facts)
        if new and self._on_new_facts is not None:
            self._on_new_facts()
        self._warn_not_listed(set(parsed.datasets))
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
        interval = self.config.poll_interval.total_seconds()
        if outcome.ok:
            self._failures = 0
            return interval
        if outcome.kind == "stopped":
            return 0.0
        self._failures += 1
        return min(self._retry_start_s * 2 ** min(self._failures - 1, 30), interval)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._tokens.known_secrets())

    def _unauthorized_hint(self) -> str:
        expires = expiry(self._tokens.claims())
        origin = token_origin(self.config)
        if expires is not None and expires <= dt.datetime.now(dt.timezone.utc):
            when = f"{expires:%Y-%m-%dT%H:%M:%SZ}"
            return f"; the token in {origin} expired at {when}: put a new one there (no restart needed)"
        return f"; check the token in {origin} (it is re-read when it changes)"

    # -- logging: once per condition ------------------------------------------------------------------
    def _report(self, outcome: PollOutcome) -> None:
        now = time.monotonic()
        if outcome.kind == "stopped":
            return
        if outcome.ok:
            self._report_ok(outcome, now)
            return
        condition = (outcome.kind or "error", outcome.message)
        fields = {
            "kind": outcome.kind,
            "url": self.config.url,
            "error": outcome.message,
            "next_retry_s": round(outcome.next_poll_s, 1),
            "failures": self._failures,
        }
        if condition != self._failure:
            if self._failure is None:
                self._failing_since = now
            self._failure, self._last_logged = condition, now
            level = log.error if outcome.kind in _NEEDS_ACTION else log.warning
            level("flowapi.poll.failed", **fields)
        elif now - self._last_logged >= REMIND_EVERY_S:
            self._last_logged = now
            log.warning("flowapi.poll.failed", still_failing_s=round(now - self._failing_since), **fields)
        else:
            log.debug("flowapi.poll.failed", repeated=True, **fields)

    def _report_ok(self, outcome: PollOutcome, now: float) -> None:
        fields = {
            "url": self.config.url,
            "datasets": len(outcome.datasets),
            "facts": outcome.facts,
            "new_facts": outcome.new_facts,
            "duration_ms": round(outcome.duration_s * 1000, 1),
        }
        if self._failure is not None:
            log.info(
                "flowapi.poll.recovered",
                after_kind=self._failure[0],
                failed_for_s=round(now - self._failing_since, 1),
                **fields,
            )
            self._failure = None
        elif outcome.new_facts or not self._polled_ok:
            log.info("flowapi.poll.ok", **fields)
        else:
            log.debug("flowapi.poll.ok", **fields)
        self._polled_ok = True

    def _warn_skipped(self, skipped: list[Skipped]) -> None:
        """Warn about each odd item once (not every poll), at most a screenful per poll."""
        fresh = [item for item in skipped if item not in self._warned]
        self._warned = set(skipped)
        for item in fresh[:MAX_WARNINGS_PER_POLL]:
            log.warning(
                f"flowapi.{item.what}.skipped",
                url=self.config.url,
                dataset=item.dataset,
                value=item.value,
                reason=item.reason,
            )
        if len(fresh) > MAX_WARNINGS_PER_POLL:
            log.warning("flowapi.answer.skipped_more", url=self.config.url, more=len(fresh) - MAX_WARNINGS_PER_POLL)

    def _warn_not_listed(self, listed: set[str]) -> None:
        with self._lock:
            wanted = dict(self._wanted)
            missing = frozenset(d for d in wanted if d not in listed)
            fresh = sorted(missing - self._not_listed)
            self._not_listed = missing
        for dataset in fresh:
            log.warning(
                "flowapi.dataset.not_listed",
                url=self.config.url,
                dataset=dataset,
                workflows=list(wanted[dataset]),
                hint="FlowAPI lists no dates for it; only inbox markers can provide it",
            )

    def _note_token(self) -> None:
        """Log (without the token) when a new token was loaded: start-up or rotation."""
        if self._tokens.generation == self._token_generation:
            return
        rotated = self._token_generation != 0
        self._token_generation = self._tokens.generation
        claims = self._tokens.claims()
        expires = expiry(claims)
        sub = claims.get("sub")
        log.info(
            "flowapi.token.rotated" if rotated else "flowapi.token.loaded",
            origin=token_origin(self.config),
            user=sub[:80] if isinstance(sub, str) else show(sub),
            expires_at=expires.isoformat() if expires else None,
        )

    def _note_insecure_url(self) -> None:
        parts = urlsplit(self.config.url)
        if parts.scheme != "http":
            return
        try:
            loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname or "").is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            log.warning(
                "flowapi.insecure_url", url=self.config.url, hint="the token is sent in clear text; use https://"
            )
