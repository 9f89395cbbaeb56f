"""The FlowAPI source: poll ``get_available_dates`` and record each (CDR type, date) as a fact.

Every type the server lists (``calls``, ``sms``, ``mds``, ``topups`` or any other) becomes a
dataset; workflows choose their datasets. The answer is data, not instructions: names and
dates are validated and anything odd is skipped with a warning. A slow, failing or refusing
FlowAPI is logged (once per condition, not once per poll) and retried with a doubling
backoff capped at ``poll_interval``; it never raises into the daemon and never blocks it for
longer than ``timeout``. The token never reaches a log line or an exception message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping

from autoflow_watch.config.model import FlowApiConfig
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.flowapi.answer import facts_from_answer
from autoflow_watch.sources.flowapi.fetch import Requester
from autoflow_watch.sources.flowapi.report import PollReporter, safe_url, unauthorized_hint
from autoflow_watch.sources.flowapi.schedule import PollSchedule
from autoflow_watch.sources.flowapi.token import FlowApiTokenError, TokenCache, read_token, scrub
from autoflow_watch.sources.polling import HEALTH_MARGIN_S, MaybeRecordFacts, PollingSource
from autoflow_watch.sources.source import PollError, PollFailure, PollOutcome, SourceContext

__all__ = ["FlowApiSource", "FlowApiTokenError", "PollOutcome", "facts_from_answer", "read_token", "safe_url"]

log = get_logger("autoflow_watch.flowapi")

RETRY_START_S = 5.0


class FlowApiSource(PollingSource):
    """Polls FlowAPI and records facts (:class:`PollingSource` owns the loop).

    ``record`` receives every validated fact of each poll (level-triggered: the store tells
    known from new). ``retry_start_s`` and ``health_margin_s`` exist for tests.
    """

    name = "flowapi"
    label = "FlowAPI"

    def __init__(
        self,
        config: FlowApiConfig,
        record: MaybeRecordFacts,
        *,
        on_new_facts: Callable[[], None] | None = None,
        wanted: Mapping[str, Iterable[str]] | None = None,
        retry_start_s: float = RETRY_START_S,
        health_margin_s: float = HEALTH_MARGIN_S,
        on_failed_poll: Callable[[], None] | None = None,
    ) -> None:
        reporter = PollReporter(config)
        super().__init__(
            record,
            reporter,
            on_new_facts=on_new_facts,
            on_failed_poll=on_failed_poll,
            retry_start_s=retry_start_s,
            health_margin_s=health_margin_s,
        )
        self.config = config
        self._reporter = reporter
        self._tokens = TokenCache(config)
        self._requester = Requester(config)
        self._schedule = PollSchedule(config)
        self._expected_wait_s = config.poll_interval.total_seconds()
        self._wanted: dict[str, tuple[str, ...]] = {}
        self._wanted_changed = False
        self._token_generation = 0
        if wanted is not None:
            self.set_wanted(wanted)
        self._reporter.transport_security()

    # -- what only FlowAPI offers the daemon --------------------------------------------------------
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

    def reload(self, ctx: SourceContext) -> bool:
        """After a reload: the datasets the workflows now wait for."""
        self.set_wanted(ctx.wanted())
        return False

    def token(self) -> str | None:
        """The current token for kernels of ``flowapi_token = true`` workflows; None if unusable."""
        try:
            return self._tokens.current()
        except FlowApiTokenError:
            return None

    # -- when to ask -------------------------------------------------------------------------------
    def first_delay_s(self) -> float:
        first = self._schedule.first_delay_s()
        if self._schedule.cron is not None:
            self._announce(first)
        return first

    def polled(self, outcome: PollOutcome) -> None:
        if self._schedule.cron is not None and outcome.ok:
            self._announce(outcome.next_poll_s)

    def wait(self, stop: threading.Event, delay_s: float) -> bool:
        """Wait ``delay_s`` (the health check knows how long); True when stopped meanwhile."""
        with self._lock:
            self._expected_wait_s = delay_s if self._schedule.cron is not None else self._schedule.interval_s
        return stop.wait(delay_s)

    def regular_delay_s(self) -> float:
        return self._schedule.regular_delay_s()  # until the next regular check (cron: from now)

    def silence_limit_s(self) -> float:
        with self._lock:
            waiting = self._expected_wait_s
        return waiting + self.config.timeout.total_seconds()

    def _announce(self, delay_s: float) -> None:
        log.info(
            "flowapi.next_check",
            url=self._report.url,
            schedule=self._schedule.cron,
            next_check=self._schedule.next_check_at(delay_s),
            in_s=round(delay_s, 1),
        )

    # -- how to ask, and what the answer means ------------------------------------------------------
    def ask(self, stop: threading.Event | None) -> PollOutcome:
        report = self._reporter
        try:
            token = self._tokens.current()
        except FlowApiTokenError as error:
            raise PollError(PollFailure.TOKEN, str(error)) from None
        self._note_token()
        try:
            answer = self._requester.fetch(token, stop)
        except PollError as error:
            if error.failure is PollFailure.UNAUTHORIZED:
                hint = unauthorized_hint(self.config, self._tokens.claims())
                raise PollError(error.failure, error.message + hint) from None
            raise
        parsed = facts_from_answer(answer)
        report.skipped(parsed.skipped)
        new = self.record(parsed.facts)
        with self._lock:
            wanted, changed, self._wanted_changed = dict(self._wanted), self._wanted_changed, False
        if changed:
            report.forget_not_listed()  # a reload: say again what is still missing
        report.not_listed(wanted, set(parsed.datasets))
        return PollOutcome(
            ok=True, facts=len(parsed.facts), new_facts=new, datasets=parsed.datasets, skipped=len(parsed.skipped)
        )

    def scrub(self, text: str) -> str:
        return scrub(text, self._tokens.known_secrets())

    def _note_token(self) -> None:
        """Log (without the token) when a new token was loaded: start-up or rotation."""
        generation = self._tokens.generation
        if generation != self._token_generation:
            rotated = self._token_generation != 0
            self._token_generation = generation
            self._reporter.token_loaded(self._tokens.claims(), rotated)
