"""The inbox marker source: watchdog events plus periodic scans turn marker files into facts.

Events are only hints. One worker thread handles every hint and every scan, so a file
is never processed twice at once; a scan at start-up, after an inotify overflow, after
an observer restart and every ``rescan_interval`` makes any missed event harmless.
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from autoflow_watch.config.model import InboxConfig
from autoflow_watch.logs import get_logger
from autoflow_watch.sources.markers import BadMarker, is_ignored, read_marker
from autoflow_watch.sources.quarantine import move_to, reject
from autoflow_watch.store.records import Fact, FactChange

log = get_logger("autoflow_watch.inbox")

# Event kinds that mean "the writer is done with this file".
COMPLETE = "complete"
MAYBE_INCOMPLETE = "maybe-incomplete"


@dataclass
class ScanResult:
    accepted: int = 0
    rejected: int = 0
    deferred: int = 0


class _Hints(FileSystemEventHandler):
    """Turns watchdog events into (path, kind) hints; never raises into the observer thread."""

    def __init__(self, hints: queue.Queue[tuple[str, str]]) -> None:
        self._hints = hints

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


class _OverflowListener(logging.Handler):
    """watchdog reports a lost-events overflow only as a log record: turn it into a rescan."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._on_overflow()


class InboxSource:
    def __init__(
        self,
        inbox: Path,
        config: InboxConfig,
        record: Callable[[Fact], FactChange],
        on_fact: Callable[[], None] = lambda: None,
        is_used: Callable[[str], bool] = lambda dataset: True,
    ) -> None:
        self.inbox = inbox
        self.processed = inbox / "processed"
        self.rejected = inbox / "rejected"
        self._config = config
        self._record = record
        self._on_fact = on_fact
        self._is_used = is_used
        self._hints: queue.Queue[tuple[str, str]] = queue.Queue()
        self._deferred: dict[str, float] = {}
        self._rescan = threading.Event()
        self._stop = threading.Event()
        self._observer: BaseObserver | None = None
        self._worker: threading.Thread | None = None
        self._overflow = _OverflowListener(self.request_rescan)
        self.last_beat = time.monotonic()
        self.observer_restarts = 0

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Watch, then scan what is already there, then handle hints in the background."""
        for folder in (self.inbox, self.processed, self.rejected):
            folder.mkdir(parents=True, exist_ok=True)
        logging.getLogger("watchdog.observers.inotify_c").addHandler(self._overflow)
        self._start_observer()
        self.scan()
        self._worker = threading.Thread(target=self._work, name="inbox-worker", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
        if self._worker is not None:
            self._worker.join(timeout=5)
        logging.getLogger("watchdog.observers.inotify_c").removeHandler(self._overflow)

    @property
    def running(self) -> bool:
        return self._worker is not None

    def healthy(self, max_age: float = 30.0) -> bool:
        """Alive when the worker beat recently and the observer thread runs."""
        worker_ok = self._worker is not None and self._worker.is_alive()
        observer_ok = self._observer is not None and self._observer.is_alive()
        return worker_ok and observer_ok and time.monotonic() - self.last_beat < max_age

    def request_rescan(self) -> None:
        self._rescan.set()

    def _start_observer(self) -> None:
        observer: BaseObserver = PollingObserver(timeout=1) if self._config.observer == "polling" else Observer()
        observer.schedule(_Hints(self._hints), str(self.inbox), recursive=False)
        observer.daemon = True
        observer.start()
        self._observer = observer

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
                log.exception("inbox.worker.error")  # logged; the watch goes on
                self._stop.wait(1.0)

    def _wait_time(self, next_scan: float) -> float:
        now = time.monotonic()
        wake = min([next_scan, now + 1.0, *self._deferred.values()])
        return max(0.0, wake - now)

    def _supervise_observer(self) -> None:
        if self._observer is not None and not self._observer.is_alive() and not self._stop.is_set():
            log.warning("inbox.observer.restarted", inbox=str(self.inbox))
            self.observer_restarts += 1
            self._start_observer()
            self._rescan.set()

    def _drain(self, timeout: float) -> None:
        try:
            path, kind = self._hints.get(timeout=timeout)
        except queue.Empty:
            return
        batch = {path: kind}
        while len(batch) < 5000:
            try:
                path, kind = self._hints.get_nowait()
            except queue.Empty:
                break
            batch[path] = COMPLETE if COMPLETE in (kind, batch.get(path)) else kind
        accepted = sum(self._consider(Path(p), kind == COMPLETE) for p, kind in batch.items())
        if accepted:
            self._on_fact()

    def _handle_deferred(self) -> None:
        now = time.monotonic()
        due = [p for p, deadline in self._deferred.items() if deadline <= now]
        accepted = 0
        for path in due:
            del self._deferred[path]
            accepted += self._consider(Path(path), complete=False)
        if accepted:
            self._on_fact()

    # -- scanning and processing -------------------------------------------------------------------
    def scan(self) -> ScanResult:
        """Look at every entry of the inbox; files still being written wait for the next look."""
        result = ScanResult()
        try:
            entries = sorted(os.scandir(self.inbox), key=lambda e: e.name)
        except OSError as error:
            log.error("inbox.scan.failed", inbox=str(self.inbox), error=str(error))
            return result
        for entry in entries:
            outcome = self._process(Path(entry.path), complete=False)
            if outcome == "accepted":
                result.accepted += 1
            elif outcome == "rejected":
                result.rejected += 1
            elif outcome == "deferred":
                result.deferred += 1
        if result.accepted:
            self._on_fact()
        return result

    def _consider(self, path: Path, complete: bool) -> bool:
        if path.parent != self.inbox:
            return False
        return self._process(path, complete) == "accepted"

    def _process(self, path: Path, complete: bool) -> str:
        """Accept, reject, defer or ignore one inbox entry; never raises."""
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
            marker = read_marker(path)
        except FileNotFoundError:
            return "gone"
        except BadMarker as bad:
            return self._reject(path, str(bad))
        try:
            change = self._record(Fact(marker.dataset, marker.day, "inbox", marker.metadata, marker.delivery_key))
            move_to(path, self.processed)
        except Exception as error:  # the store is down or the disk full: keep the marker for the next scan
            log.error("inbox.marker.not_recorded", marker=path.name, error=str(error))
            return "error"
        level = log.info if self._is_used(marker.dataset) else log.debug
        level(
            "inbox.marker.accepted",
            marker=path.name,
            dataset=marker.dataset,
            date=marker.day.isoformat(),
            change=change.value,
        )
        return "accepted"

    def _reject(self, path: Path, reason: str) -> str:
        try:
            target = reject(path, self.rejected, reason)
        except FileNotFoundError:
            return "gone"
        except OSError as error:
            log.error("inbox.marker.reject_failed", marker=path.name, reason=reason, error=str(error))
            return "error"
        log.warning("inbox.marker.rejected", marker=path.name, reason=reason, moved_to=str(target))
        return "rejected"
