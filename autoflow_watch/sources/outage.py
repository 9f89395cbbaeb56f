"""What a polling source logs about its polls, and when: each condition once, not once per poll.

A server that is down for a night must not write a warning at every retry, and a refused
password must be said plainly, once: a failure is logged when it starts or changes, reminded
hourly while it lasts and repeated at debug only; its end says how long it lasted. Odd items
in an answer are warned about once each, at most a screenful per poll. Each source words its
lines (:class:`Wording`); nothing here sees a secret.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autoflow_watch.logs import get_logger
from autoflow_watch.sources.source import PollFailure, PollOutcome

REMIND_EVERY_S = 3600.0  # a condition that persists is logged again at most this often
MAX_WARNINGS_PER_POLL = 20


@dataclass(frozen=True)
class Wording:
    """How one source's poll lines are named and what they carry."""

    logger: str  # e.g. "autoflow_watch.flowdb"
    failed: str  # the event of a failed poll, e.g. "flowdb.unavailable"
    recovered: str  # the event of the first good poll after failures
    ok: str  # the event of a good poll (info when it found something new, else debug)
    was_key: str  # the field naming the failure that ended, in ``recovered``
    needs_action: frozenset[PollFailure]  # failures a person must fix: errors, not warnings
    hints: Mapping[PollFailure, str] | None = None  # when given, every failure line has a ``hint``
    new_message_is_news: bool = False  # a failure of the same kind with another message is logged again
    count_datasets: bool = False  # good polls say how many datasets the answer listed


class OutageLog:
    """Turns poll outcomes into log lines, remembering what was already said."""

    def __init__(self, url: str, wording: Wording) -> None:
        self.url = url
        self._wording = wording
        self._log = get_logger(wording.logger)
        self._failure: tuple[PollFailure, str] | None = None  # the current condition
        self._failing_since = 0.0
        self._last_logged = 0.0
        self._polled_ok = False
        self._warned: set[Hashable] = set()

    @property
    def failing(self) -> bool:
        return self._failure is not None

    def outcome(self, outcome: PollOutcome, failures: int) -> None:
        if outcome.failure is PollFailure.STOPPED:
            return
        if outcome.ok:
            self._succeeded(outcome, time.monotonic())
        else:
            self._failed(outcome, failures, time.monotonic())

    def _failed(self, outcome: PollOutcome, failures: int, now: float) -> None:
        words = self._wording
        failure = outcome.failure or PollFailure.ERROR
        condition = (failure, outcome.message if words.new_message_is_news else "")
        fields: dict[str, Any] = {
            "kind": failure.value,
            "url": self.url,
            "error": outcome.message,
            "next_retry_s": round(outcome.next_poll_s, 1),
            "failures": failures,
        }
        if words.hints is not None:
            fields["hint"] = words.hints.get(failure, "retrying with backoff")
        if condition != self._failure:
            if self._failure is None:
                self._failing_since = now
            elif words.hints is not None:
                fields["was"] = self._failure[0].value
            self._failure, self._last_logged = condition, now
            (self._log.error if failure in words.needs_action else self._log.warning)(words.failed, **fields)
        elif now - self._last_logged >= REMIND_EVERY_S:
            self._last_logged = now
            self._log.warning(words.failed, still_failing_s=round(now - self._failing_since), **fields)
        else:
            self._log.debug(words.failed, repeated=True, **fields)

    def _succeeded(self, outcome: PollOutcome, now: float) -> None:
        words = self._wording
        fields: dict[str, Any] = {"url": self.url}
        if words.count_datasets:
            fields["datasets"] = len(outcome.datasets)
        fields.update(facts=outcome.facts, new_facts=outcome.new_facts, duration_ms=round(outcome.duration_s * 1000, 1))
        if self._failure is not None:
            self._log.info(
                words.recovered,
                **{words.was_key: self._failure[0].value},
                failed_for_s=round(now - self._failing_since, 1),
                **fields,
            )
            self._failure = None
        elif outcome.new_facts or not self._polled_ok:
            self._log.info(words.ok, **fields)
        else:
            self._log.debug(words.ok, **fields)
        self._polled_ok = True

    def warn_once(
        self,
        items: Sequence[Hashable],
        describe: Callable[[Any], tuple[str, dict[str, Any]]],
        more_event: str,
    ) -> None:
        """Warn about each odd item once (not at every poll), at most a screenful per poll.

        ``describe`` gives an item's event and fields; the items not warned about for lack of
        room are counted in one ``more_event`` line.
        """
        fresh = [item for item in items if item not in self._warned]
        self._warned = set(items)
        for item in fresh[:MAX_WARNINGS_PER_POLL]:
            event, fields = describe(item)
            self._log.warning(event, url=self.url, **fields)
        if len(fresh) > MAX_WARNINGS_PER_POLL:
            self._log.warning(more_event, url=self.url, more=len(fresh) - MAX_WARNINGS_PER_POLL)
