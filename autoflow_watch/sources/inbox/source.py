"""The inbox marker source: watchdog events plus periodic scans turn marker files into facts.

Events are only hints. One worker thread handles every hint and every scan, so a file
is never processed twice at once; a scan at start-up, after an inotify overflow, after
an observer restart, after an error in the worker and every ``rescan_interval`` makes any
missed event harmless. The markers of one batch are recorded in one store transaction and
moved to ``processed/`` only after it has committed, so a crash in between leaves them in
the inbox for the next scan, which recognises them (same file) instead of redelivering.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from autoflow_watch.config.model import InboxConfig
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.inbox.events import (
    INOTIFY_LOGGER,
    NATIVE_EVENTS,
    POLLING_EVENTS,
    Hint,
    _Hints,
    _native_observer,
    _OverflowListener,
)
from autoflow_watch.sources.inbox.handling import MarkerHandler, ScanResult
from autoflow_watch.sources.source import PollOutcome, RecordFacts, SourceContext

log = get_logger("autoflow_watch.inbox")

MAX_BATCH = 5000  # hints handled per drain


class InboxSource:
    """Marker files in, facts recorded, markers moved to processed/ or rejected/ (watchdog events and scans)."""

    name = "inbox"

    def __init__(
        self,
        inbox: Path,
        config: InboxConfig,
        record: RecordFacts,
        on_fact: Callable[[], None] = lambda: None,
        is_used: Callable[[str], bool] = lambda dataset: True,
        on_rejected: Callable[[], None] = lambda: None,
    ) -> None:
        """``record`` stores a batch of facts in one transaction (``FactStore.record_batch``)."""
        self.inbox = inbox
        self._config = config
        self._markers = MarkerHandler(inbox, config.settle.total_seconds(), record, on_fact, is_used, on_rejected)
        self.processed, self.rejected = self._markers.processed, self._markers.rejected
        self._hints: queue.Queue[tuple[str, Hint]] = queue.Queue()
        self._rescan = threading.Event()
        self._stop = threading.Event()
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None
        self._overflow = _OverflowListener(self._on_overflow)
        self.last_beat = time.monotonic()
        self.observer_restarts = 0
        self.overflows = 0
        self.scans = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Watch, then scan what is already there, then handle hints in the background."""
        self.make_folders()
        inotify_log = logging.getLogger(INOTIFY_LOGGER)
        if inotify_log.getEffectiveLevel() > logging.WARNING:
            inotify_log.setLevel(logging.WARNING)  # the overflow warning must reach our listener
        inotify_log.addHandler(self._overflow)
        self._start_observer()
        result = self.scan()
        self._worker = threading.Thread(target=self._work, name="inbox-worker", daemon=True)
        self._worker.start()
        log.info(
            "inbox.watching",
            inbox=str(self.inbox),
            observer=self._config.observer,
            settle_s=self._config.settle.total_seconds(),
            rescan_interval_s=self._config.rescan_interval.total_seconds(),
            found_at_start=result.accepted,
            rejected_at_start=result.rejected,
        )

    def stop(self) -> None:
        self._stop.set()
        self._hints.put(("", Hint.WAKE))  # the worker may be waiting for a hint: end the wait now
        if self._observer is not None:
            self._stop_observer(self._observer)
        if self._worker is not None:
            self._worker.join(timeout=5)
        logging.getLogger(INOTIFY_LOGGER).removeHandler(self._overflow)

    def poll_once(self) -> PollOutcome:
        """``run --once``: scan; a marker touched just now is waited for, not left for a next run."""
        self.make_folders()
        deadline = time.monotonic() + self._config.settle.total_seconds() + 1.0
        accepted = rejected = 0
        while True:
            result = self.scan()
            accepted, rejected = accepted + result.accepted, rejected + result.rejected
            if not result.deferred or time.monotonic() >= deadline:
                return PollOutcome(ok=True, facts=accepted, new_facts=accepted, skipped=rejected)
            time.sleep(0.2)

    def reload(self, ctx: SourceContext) -> bool:
        """A watch with other settings is replaced (its start's scan finds what arrived in between)."""
        return self.running and self._config != ctx.app.inbox

    @property
    def config(self) -> InboxConfig:
        return self._config

    @property
    def running(self) -> bool:
        return self._worker is not None

    def healthy(self, max_age: float = 30.0) -> bool:
        """Alive when the worker beat recently and the observer (and its emitter) runs."""
        worker_ok = self._worker is not None and self._worker.is_alive()
        return worker_ok and self._observer_alive() and time.monotonic() - self.last_beat < max_age

    def request_rescan(self) -> None:
        self._rescan.set()

    def _on_overflow(self) -> None:
        self.overflows += 1
        log.warning("inbox.events_lost.rescanning", inbox=str(self.inbox), overflows=self.overflows)
        self.request_rescan()

    def make_folders(self) -> None:
        """The inbox, processed/ and rejected/ (see :meth:`MarkerHandler.make_folders`)."""
        self._markers.make_folders()

    def _start_observer(self) -> None:
        polling = self._config.observer == "polling"
        observer = PollingObserver(timeout=1) if polling else _native_observer()
        events = POLLING_EVENTS if polling else NATIVE_EVENTS
        observer.schedule(
            _Hints(self._hints, self.request_rescan), str(self.inbox), recursive=False, event_filter=events
        )
        observer.daemon = True
        observer.start()
        self._observer = observer

    @staticmethod
    def _stop_observer(observer: BaseObserver) -> None:
        try:
            observer.stop()
            observer.join(timeout=5)
        except Exception as error:  # a dead observer may fail to stop cleanly; it is dropped anyway
            log.warning("inbox.observer.stop_failed", error=str(error))

    def _observer_alive(self) -> bool:
        """The dispatching thread and its emitter: the emitter stops alone if the inbox is deleted."""
        observer = self._observer
        if observer is None or not observer.is_alive():
            return False
        return all(emitter.is_alive() for emitter in observer.emitters)

    # -- the worker ----------------------------------------------------------------------------
    def _work(self) -> None:
        interval = self._config.rescan_interval.total_seconds()
        next_scan = time.monotonic() + interval
        while not self._stop.is_set():
            self.last_beat = time.monotonic()
            try:
                self._supervise_observer()
                self._drain(timeout=self._wait_time(next_scan))
                self._handle_deferred()
                if self._rescan.is_set() or time.monotonic() >= next_scan:
                    self._rescan.clear()
                    self.scan()
                    next_scan = time.monotonic() + interval
            except Exception:
                # Logged; the watch goes on, and a rescan finds whatever the failed batch held.
                log.exception("inbox.worker.error")
                self._rescan.set()
                self._stop.wait(1.0)

    def _wait_time(self, next_scan: float) -> float:
        if self._rescan.is_set():
            return 0.0
        now = time.monotonic()
        wake = min([next_scan, now + 1.0, *self._markers.deferred.values()])
        return max(0.0, wake - now)

    def _supervise_observer(self) -> None:
        if self._observer is None or self._stop.is_set() or self._observer_alive():
            return
        log.warning("inbox.observer.restarted", inbox=str(self.inbox))
        self.observer_restarts += 1
        self._stop_observer(self._observer)
        self.make_folders()  # the inbox itself may have been removed and must be watched anew
        self._start_observer()
        self._rescan.set()

    def _drain(self, timeout: float) -> None:
        try:
            path, kind = self._hints.get(timeout=timeout)
        except queue.Empty:
            return
        batch = {path: kind}
        while len(batch) < MAX_BATCH:
            try:
                path, kind = self._hints.get_nowait()
            except queue.Empty:
                break
            batch[path] = Hint.COMPLETE if Hint.COMPLETE in (kind, batch.get(path)) else kind
        self._markers.handle(
            (Path(p), kind is Hint.COMPLETE) for p, kind in batch.items() if Path(p).parent == self.inbox
        )

    def _handle_deferred(self) -> None:
        now = time.monotonic()
        due = [p for p, deadline in self._markers.deferred.items() if deadline <= now]
        for path in due:
            del self._markers.deferred[path]
        if due:
            self._markers.handle((Path(p), False) for p in due)

    # -- scanning and processing -------------------------------------------------------------------
    def scan(self) -> ScanResult:
        """Look at every entry of the inbox; files still being written wait for the next look."""
        try:
            entries = sorted(os.scandir(self.inbox), key=lambda e: e.name)
            return self._markers.handle((Path(entry.path), False) for entry in entries)
        except Exception as error:  # never into the caller (start-up, run --once): the next scan tries again
            log.error("inbox.scan.failed", inbox=str(self.inbox), error=str(error))
            self._rescan.set()
            return ScanResult()
        finally:
            self.scans += 1  # counts finished looks, so whoever watches the count knows one is over
