"""Sending notifications off the main loop: one worker thread per target.

``submit`` only puts the event on each target's queue, so a run is never delayed. A
worker waits ``group_window_s`` after the first event so that runs failing together
become one message; while a target is failing, later events queue up and go out grouped
once it answers. Each send has a hard timeout; a failed one is retried with backoff, to
that target only, and a target's outage is logged when it starts and when it ends, never
at every retry. Apprise's own log lines are captured per thread, never shown.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from autoflow_watch.config.notify_urls import APPRISE_LOGGER, Target
from autoflow_watch.logs import get_logger
from autoflow_watch.notify.events import EventKind, RunEvent
from autoflow_watch.notify.message import Message, compose
from autoflow_watch.secrets import redact

log = get_logger("autoflow_watch.notify")

GROUP_WINDOW_S = 5.0
SEND_TIMEOUT_S = 20.0
RETRY_DELAYS_S = (5.0, 30.0, 120.0)
MAX_QUEUED = 500  # per target; past that the oldest events are counted, not kept


@dataclass(frozen=True)
class SendPolicy:
    """Timings of sending; the defaults suit a service, tests shorten them."""

    group_window_s: float = GROUP_WINDOW_S
    send_timeout_s: float = SEND_TIMEOUT_S
    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
    max_queued: int = MAX_QUEUED


class _CapturedReasons(logging.Handler):
    """Keeps the last warning Apprise logged in each thread: the reason a send failed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread is not None:
            self.last[record.thread] = redact(record.getMessage())[:300]


_reasons = _CapturedReasons()


def _capture_apprise_logs() -> None:
    apprise_log = logging.getLogger(APPRISE_LOGGER)
    if _reasons not in apprise_log.handlers:
        apprise_log.addHandler(_reasons)
    apprise_log.propagate = False  # its lines name hosts and recipients, and may quote a URL


@dataclass
class _Counts:
    """What happened to the messages of one target, for metrics."""

    sent: int = 0
    failed: int = 0
    dropped: int = 0
    failing: bool = False


class _TargetWorker:
    """One target's queue and sending thread."""

    def __init__(self, target: Target, policy: SendPolicy, closing: threading.Event) -> None:
        self.target = target
        self.policy = policy
        self.counts = _Counts()
        self._closing = closing
        self._queue: queue.Queue[RunEvent | None] = queue.Queue()
        self._overflow = 0
        self._lost_in_outage = 0
        self.thread = threading.Thread(target=self._run, name=f"notify-{target.index}", daemon=True)

    def put(self, event: RunEvent) -> None:
        if self._queue.qsize() >= self.policy.max_queued:
            self._overflow += 1  # counted in the next message ("… and N more")
            return
        self._queue.put(event)

    def stop(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, ended = self._collect(first)
            dropped, self._overflow = self._overflow, 0
            self._deliver(compose(batch, dropped), len(batch) + dropped)
            if ended:
                return

    def _collect(self, first: RunEvent) -> tuple[list[RunEvent], bool]:
        """The first event and all that arrive within the grouping window (or are queued at close)."""
        batch = [first]
        deadline = time.monotonic() + self.policy.group_window_s
        while True:
            wait = 0.0 if self._closing.is_set() else deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                return batch, False
            if item is None:
                return batch, True
            batch.append(item)

    def _deliver(self, message: Message, events: int) -> None:
        delays = [0.0, *self.policy.retry_delays_s]
        for attempt, delay in enumerate(delays):
            if delay and self._closing.wait(delay):
                break  # shutting down: no more retries
            ok, reason = self._send_once(message)
            if ok:
                self.counts.sent += 1
                if self.counts.failing:
                    log.info("notify.target_recovered", target=self.target.name, lost_messages=self._lost_in_outage)
                    self.counts.failing, self._lost_in_outage = False, 0
                return
            self.counts.failed += 1
            if not self.counts.failing:
                self.counts.failing = True
                log.warning(
                    "notify.target_failing",
                    target=self.target.name,
                    reason=reason,
                    retries=len(delays) - 1 - attempt,
                    hint="logged once until it answers again",
                )
        self.counts.dropped += events
        self._lost_in_outage += 1
        if self._closing.is_set():  # no retry is left to send it: say so, the operator needs to know
            log.warning("notify.unsent_at_shutdown", targets=[self.target.name], runs=events)

    def _send_once(self, message: Message) -> tuple[bool, str]:
        """One send with a hard timeout: a hung plugin is abandoned in its own thread."""
        outcome: dict[str, object] = {}

        def send() -> None:
            ident = threading.get_ident()
            _reasons.last.pop(ident, None)
            try:
                outcome["ok"] = self._notify(message)
            except Exception as error:
                outcome["reason"] = redact(f"{type(error).__name__}: {error}")[:300]
            outcome.setdefault("reason", _reasons.last.pop(ident, "the service did not accept the message"))

        sender = threading.Thread(target=send, name=f"notify-send-{self.target.index}", daemon=True)
        sender.start()
        sender.join(self.policy.send_timeout_s + 1.0)
        if sender.is_alive():
            return False, f"no answer within {self.policy.send_timeout_s:g}s"
        return bool(outcome.get("ok")), str(outcome.get("reason", ""))

    def _notify(self, message: Message) -> bool:
        import apprise

        plugin = self.target.plugin
        for attribute in ("socket_connect_timeout", "socket_read_timeout"):
            if hasattr(plugin, attribute):
                setattr(plugin, attribute, self.policy.send_timeout_s)
        attach = [str(p) for p in message.attachments] if self.target.supports_attachments else None
        kind = apprise.NotifyType.FAILURE if message.failure else apprise.NotifyType.SUCCESS
        return bool(
            plugin.notify(
                body=message.body,
                title=message.title,
                notify_type=kind,
                body_format=apprise.NotifyFormat.TEXT,  # Apprise escapes it and keeps the lines in HTML mail
                attach=attach or None,
            )
        )


@dataclass
class Dispatcher:
    """Fans run events out to every target's worker; ``close`` bounds how long shutdown waits."""

    targets: Sequence[Target]
    on: frozenset[EventKind]
    policy: SendPolicy = field(default_factory=SendPolicy)

    def __post_init__(self) -> None:
        _capture_apprise_logs()
        self._closing = threading.Event()
        self._workers = [_TargetWorker(t, self.policy, self._closing) for t in self.targets]
        self._started = False

    def start(self) -> None:
        for worker in self._workers:
            worker.thread.start()
        self._started = True
        log.info("notify.ready", targets=[w.target.name for w in self._workers], on=sorted(k.value for k in self.on))

    def submit(self, event: RunEvent) -> None:
        """Queue ``event`` for every target if ``on`` asks for it; never blocks."""
        if event.kind in self.on and not self._closing.is_set():
            for worker in self._workers:
                worker.put(event)

    def close(self, wait_s: float = 5.0) -> None:
        """Send what is queued, without waiting for the grouping window or retries, for at most ``wait_s``."""
        self._closing.set()
        for worker in self._workers:
            worker.stop()
        deadline = time.monotonic() + wait_s
        for worker in self._workers if self._started else ():
            worker.thread.join(max(0.0, deadline - time.monotonic()))
        unsent = [w.target.name for w in self._workers if w.thread.is_alive()]
        if unsent:
            log.warning("notify.unsent_at_shutdown", targets=unsent, waited_s=wait_s)

    def counts(self) -> Iterable[tuple[Target, _Counts]]:
        return [(w.target, w.counts) for w in self._workers]

    def healthy(self) -> bool:
        return not any(w.counts.failing for w in self._workers)
