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
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from autoflow_watch.config.model import InboxConfig
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.markers import BadMarker, Marker, is_ignored, read_marker
from autoflow_watch.sources.quarantine import MovedElsewhere, move_to, reject
from autoflow_watch.store.records import Fact, FactChange

log = get_logger("autoflow_watch.inbox")

# Event kinds that mean "the writer is done with this file".
COMPLETE = "complete"
MAYBE_INCOMPLETE = "maybe-incomplete"

# Only the events that can announce a marker: the kernel then queues no open, read, attribute
# or delete events (our own reads and moves would otherwise double the traffic of a burst).
NATIVE_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    DirCreatedEvent,
    FileMovedEvent,
    DirMovedEvent,
    FileClosedEvent,
]
# Polling sees no close, so a change to a file being written is a hint too.
POLLING_EVENTS: list[type[FileSystemEvent]] = [*NATIVE_EVENTS, FileModifiedEvent]
RECORD_CHUNK = 500  # markers per store transaction
MAX_BATCH = 5000  # hints handled per drain
INOTIFY_LOGGER = "watchdog.observers.inotify_c"

Record = Callable[[list[Fact]], list[FactChange]]


@dataclass
class ScanResult:
    """What one scan of the inbox did with the markers it found."""

    accepted: int = 0
    rejected: int = 0
    deferred: int = 0


class _Hints(FileSystemEventHandler):
    """Turns watchdog events into (path, kind) hints; never raises into the observer thread."""

    def __init__(self, hints: queue.Queue[tuple[str, str]], on_error: Callable[[], None]) -> None:
        self._hints = hints
        self._on_error = on_error

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            kind = event.event_type
            if kind == "moved":
                self._hints.put((os.fsdecode(event.dest_path), COMPLETE))
            elif kind == "closed":
                self._hints.put((os.fsdecode(event.src_path), COMPLETE))
            elif kind in ("created", "modified"):
                self._hints.put((os.fsdecode(event.src_path), MAYBE_INCOMPLETE))
        except Exception:  # pragma: no cover - a handler must never kill the observer
            log.exception("inbox.event.unhandled")
            self._on_error()


class _OverflowListener(logging.Handler):
    """watchdog reports a lost-events overflow only as a log record: turn it into a rescan."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._on_overflow()


def _native_observer() -> BaseObserver:
    """inotify with full move events: a rename into the inbox from elsewhere is a move (complete),
    not a create; elsewhere watchdog's default observer."""
    try:
        from watchdog.observers.inotify import InotifyObserver
    except ImportError:  # pragma: no cover - not Linux
        from watchdog.observers import Observer

        return Observer()
    return InotifyObserver(generate_full_events=True)


class InboxSource:
    """Marker files in, facts recorded, markers moved to processed/ or rejected/ (watchdog events and scans)."""

    def __init__(
        self,
        inbox: Path,
        config: InboxConfig,
        record: Record,
        on_fact: Callable[[], None] = lambda: None,
        is_used: Callable[[str], bool] = lambda dataset: True,
        on_rejected: Callable[[], None] = lambda: None,
    ) -> None:
        """``record`` stores a batch of facts in one transaction (``FactStore.record_batch``)."""
        self.inbox = inbox
        self.processed = inbox / "processed"
        self.rejected = inbox / "rejected"
        self._config = config
        self._record = record
        self._on_fact = on_fact
        self._is_used = is_used
        self._on_rejected = on_rejected
        self._hints: queue.Queue[tuple[str, str]] = queue.Queue()
        self._deferred: dict[str, float] = {}
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
        self._make_folders()
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
        self._hints.put(("", "wake"))  # the worker may be waiting for a hint: end the wait now
        if self._observer is not None:
            self._stop_observer(self._observer)
        if self._worker is not None:
            self._worker.join(timeout=5)
        logging.getLogger(INOTIFY_LOGGER).removeHandler(self._overflow)

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

    def _make_folders(self) -> None:
        for folder in (self.inbox, self.processed, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)

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
        wake = min([next_scan, now + 1.0, *self._deferred.values()])
        return max(0.0, wake - now)

    def _supervise_observer(self) -> None:
        if self._observer is None or self._stop.is_set() or self._observer_alive():
            return
        log.warning("inbox.observer.restarted", inbox=str(self.inbox))
        self.observer_restarts += 1
        self._stop_observer(self._observer)
        self._make_folders()  # the inbox itself may have been removed and must be watched anew
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
            batch[path] = COMPLETE if COMPLETE in (kind, batch.get(path)) else kind
        self._handle((Path(p), kind == COMPLETE) for p, kind in batch.items() if Path(p).parent == self.inbox)

    def _handle_deferred(self) -> None:
        now = time.monotonic()
        due = [p for p, deadline in self._deferred.items() if deadline <= now]
        for path in due:
            del self._deferred[path]
        if due:
            self._handle((Path(p), False) for p in due)

    # -- scanning and processing -------------------------------------------------------------------
    def scan(self) -> ScanResult:
        """Look at every entry of the inbox; files still being written wait for the next look."""
        try:
            try:
                entries = sorted(os.scandir(self.inbox), key=lambda e: e.name)
            except OSError as error:
                log.error("inbox.scan.failed", inbox=str(self.inbox), error=str(error))
                return ScanResult()
            return self._handle((Path(entry.path), False) for entry in entries)
        finally:
            self.scans += 1  # counts finished looks, so whoever watches the count knows one is over

    def _handle(self, entries: Iterable[tuple[Path, bool]]) -> ScanResult:
        """Examine entries; record the good markers in chunks, one transaction each."""
        result = ScanResult()
        ready: list[tuple[Path, Marker]] = []
        for path, complete in entries:
            outcome = self._examine(path, complete)
            if isinstance(outcome, Marker):
                ready.append((path, outcome))
                if len(ready) >= RECORD_CHUNK:
                    result.accepted += self._accept(ready)
                    ready = []
            elif outcome == "rejected":
                result.rejected += 1
            elif outcome == "deferred":
                result.deferred += 1
        result.accepted += self._accept(ready)
        if result.accepted:
            self._on_fact()
        return result

    def _examine(self, path: Path, complete: bool) -> Marker | str:
        """A valid marker ready to record, or what became of the entry; never raises."""
        if is_ignored(path.name):
            return "ignored"
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return "gone"  # handled already (a duplicate event) or removed by its writer
        except OSError as error:
            return self._reject(path, f"marker {path.name!r} cannot be examined: {error.strerror}")
        settle = self._config.settle.total_seconds()
        if stat.S_ISREG(info.st_mode) and not complete and time.time() - info.st_mtime < settle:
            self._deferred[str(path)] = time.monotonic() + settle
            return "deferred"
        self._deferred.pop(str(path), None)
        try:
            return read_marker(path)
        except FileNotFoundError:
            return "gone"
        except BadMarker as bad:
            return self._reject(path, str(bad))

    def _accept(self, ready: list[tuple[Path, Marker]]) -> int:
        """Record the markers (one transaction), then move them to processed/; return how many."""
        if not ready:
            return 0
        facts = [Fact(m.dataset, m.day, "inbox", m.metadata, m.delivery_key) for _, m in ready]
        try:
            changes = self._record(facts)
        except Exception as error:  # the store is down or the disk full: keep the markers for the next scan
            if len(ready) > 1:  # one fact the store refuses must not hold back the others
                log.warning("inbox.batch.not_recorded", markers=len(ready), error=str(error))
                return sum(self._accept([item]) for item in ready)
            log.error("inbox.marker.not_recorded", marker=ready[0][0].name, error=str(error))
            return 0
        for (path, marker), change in zip(ready, changes, strict=True):
            self._move_accepted(path, marker, change)
        return len(ready)

    def _move_accepted(self, path: Path, marker: Marker, change: FactChange) -> None:
        try:
            target = move_to(path, self.processed)
        except MovedElsewhere:  # another daemon on this inbox moved it (or its writer removed it): the fact stands
            log.debug("inbox.marker.moved_elsewhere", marker=path.name, change=change.value)
            return
        except OSError as error:  # stays in the inbox; the next scan sees the same file (no redelivery)
            log.error("inbox.marker.not_moved", marker=path.name, error=str(error))
            return
        level = log.info if self._is_used(marker.dataset) else log.debug
        level(
            "inbox.marker.accepted",
            marker=path.name,
            dataset=marker.dataset,
            date=marker.day.isoformat(),
            change=change.value,
            moved_to=str(target),
        )

    def _reject(self, path: Path, reason: str) -> str:
        try:
            target = reject(path, self.rejected, reason)
        except (FileNotFoundError, MovedElsewhere):
            log.debug("inbox.marker.rejected_elsewhere", marker=path.name)
            return "gone"
        except OSError as error:
            log.error("inbox.marker.reject_failed", marker=path.name, reason=reason, error=str(error))
            return "error"
        log.warning("inbox.marker.rejected", marker=path.name, reason=reason, moved_to=str(target))
        self._on_rejected()
        return "rejected"
