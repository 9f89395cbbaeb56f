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
from autoflow_watch.sources.inbox.markers import BadMarker, Examined, Marker, MarkerGone, is_ignored, read_marker
from autoflow_watch.sources.inbox.quarantine import FolderRefused, InboxFolders, MovedElsewhere, move_to, reject
from autoflow_watch.sources.source import PollOutcome, RecordFacts, SourceContext
from autoflow_watch.vocabulary import Fact, FactChange

log = get_logger("autoflow_watch.inbox")

RECORD_CHUNK = 500  # markers per store transaction
MAX_BATCH = 5000  # hints handled per drain
RETRY_ITEM_S = 5.0  # an entry whose examination failed unexpectedly waits this long
KEPT_NAMES = 10_000  # markers remembered as left in place (said once), at most


@dataclass
class ScanResult:
    """What one scan of the inbox did with the markers it found."""

    accepted: int = 0
    rejected: int = 0
    deferred: int = 0


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
        self.processed = inbox / "processed"
        self.rejected = inbox / "rejected"
        self._config = config
        self._record = record
        self._on_fact = on_fact
        self._is_used = is_used
        self._on_rejected = on_rejected
        self._hints: queue.Queue[tuple[str, Hint]] = queue.Queue()
        self._deferred: dict[str, float] = {}
        self._refused: dict[str, str] = {}  # inbox folders refused (not the daemon's own), said once
        self._kept: set[str] = set()  # markers left in the inbox because their folder is refused
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
        """The inbox by path (the operator's); processed/ and rejected/ by descriptor, refused if not ours."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        with InboxFolders(self.inbox) as dirs:
            for name in (self.processed.name, self.rejected.name):
                try:
                    dirs.folder(name)
                except FolderRefused as refused:
                    self._refused_folder(name, refused)

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
        self._handle((Path(p), kind is Hint.COMPLETE) for p, kind in batch.items() if Path(p).parent == self.inbox)

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
            entries = sorted(os.scandir(self.inbox), key=lambda e: e.name)
            return self._handle((Path(entry.path), False) for entry in entries)
        except Exception as error:  # never into the caller (start-up, run --once): the next scan tries again
            log.error("inbox.scan.failed", inbox=str(self.inbox), error=str(error))
            self._rescan.set()
            return ScanResult()
        finally:
            self.scans += 1  # counts finished looks, so whoever watches the count knows one is over

    def _handle(self, entries: Iterable[tuple[Path, bool]]) -> ScanResult:
        """Examine entries; record the good markers in chunks, one transaction each.

        One bad entry never holds back the others: whatever examining it raises, it is
        rejected (or, when even that fails, left alone and said once) and the batch goes on.
        """
        result = ScanResult()
        try:
            dirs = InboxFolders(self.inbox)
        except OSError as error:  # the inbox itself is gone: the observer's supervision makes it anew
            log.error("inbox.scan.failed", inbox=str(self.inbox), error=str(error))
            return result
        with dirs:
            ready: list[tuple[Path, Marker]] = []
            for path, complete in entries:
                outcome = self._examine_guarded(dirs, path, complete)
                if isinstance(outcome, Marker):
                    ready.append((path, outcome))
                    if len(ready) >= RECORD_CHUNK:
                        result.accepted += self._accept(dirs, ready)
                        ready = []
                elif outcome is Examined.REJECTED:
                    result.rejected += 1
                elif outcome is Examined.DEFERRED:
                    result.deferred += 1
            result.accepted += self._accept(dirs, ready)
            for name in dirs.opened():
                if self._refused.pop(name, None) is not None:
                    log.info("inbox.folder.usable_again", folder=str(self.inbox / name))
                    self._kept.clear()
        if result.accepted:
            self._on_fact()
        return result

    def _examine_guarded(self, dirs: InboxFolders, path: Path, complete: bool) -> Marker | Examined:
        """:meth:`_examine`, and an error it did not foresee (ours, not the marker's) costs this entry only:
        it is said once, left in place and looked at again after a pause."""
        try:
            return self._examine(dirs, path, complete)
        except Exception:
            if self._first_time_kept(path.name):
                log.exception("inbox.marker.examine_failed", marker=path.name)
            self._deferred[str(path)] = time.monotonic() + RETRY_ITEM_S
            return Examined.ERROR

    def _examine(self, dirs: InboxFolders, path: Path, complete: bool) -> Marker | Examined:
        """A valid marker ready to record, or what became of the entry."""
        if is_ignored(path.name):
            return Examined.IGNORED
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return Examined.GONE  # handled already (a duplicate event) or removed by its writer
        except OSError as error:
            return self._reject(dirs, path, f"marker {path.name!a} cannot be examined: {error.strerror}")
        settle = self._config.settle.total_seconds()
        if stat.S_ISREG(info.st_mode) and not complete and time.time() - info.st_mtime < settle:
            self._deferred[str(path)] = time.monotonic() + settle
            return Examined.DEFERRED
        self._deferred.pop(str(path), None)
        try:
            return read_marker(path)
        except MarkerGone:
            return Examined.GONE
        except BadMarker as bad:
            return self._reject(dirs, path, str(bad))

    def _accept(self, dirs: InboxFolders, ready: list[tuple[Path, Marker]]) -> int:
        """Record the markers (one transaction), then move them to processed/; return how many."""
        if not ready:
            return 0
        facts = [Fact(m.dataset, m.day, "inbox", m.metadata, m.delivery_key) for _, m in ready]
        try:
            changes = self._record(facts)
        except Exception as error:  # the store is down or the disk full: keep the markers for the next scan
            if len(ready) > 1:  # one fact the store refuses must not hold back the others
                log.warning("inbox.batch.not_recorded", markers=len(ready), error=str(error))
                return sum(self._accept(dirs, [item]) for item in ready)
            log.error("inbox.marker.not_recorded", marker=ready[0][0].name, error=str(error))
            return 0
        for (path, marker), change in zip(ready, changes, strict=True):
            try:
                self._move_accepted(dirs, path, marker, change)
            except Exception:  # the fact is recorded; the marker stays for the next scan
                log.exception("inbox.marker.not_moved", marker=path.name)
        return len(ready)

    def _move_accepted(self, dirs: InboxFolders, path: Path, marker: Marker, change: FactChange) -> None:
        target: Path | None = None
        try:
            target = self.processed / move_to(dirs.fd, path.name, dirs.folder(self.processed.name))
        except MovedElsewhere:  # another daemon on this inbox moved it (or its writer removed it): the fact stands
            log.debug("inbox.marker.moved_elsewhere", marker=path.name, change=change.value)
            return
        except FolderRefused as refused:  # recorded all the same; the marker stays where it is
            self._refused_folder(self.processed.name, refused)
            if not self._first_time_kept(path.name):
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
            moved_to=str(target) if target else None,
        )

    def _reject(self, dirs: InboxFolders, path: Path, reason: str) -> Examined:
        try:
            target = self.rejected / reject(dirs.fd, path.name, dirs.folder(self.rejected.name), reason)
        except MovedElsewhere:
            log.debug("inbox.marker.rejected_elsewhere", marker=path.name)
            return Examined.GONE
        except FolderRefused as refused:  # said once for the folder, once for each marker; it stays in place
            self._refused_folder(self.rejected.name, refused)
            if not self._first_time_kept(path.name):
                return Examined.KEPT
            log.warning("inbox.marker.rejected", marker=path.name, reason=reason, moved_to=None)
            self._on_rejected()
            return Examined.REJECTED
        except OSError as error:
            log.error("inbox.marker.reject_failed", marker=path.name, reason=reason, error=str(error))
            return Examined.ERROR
        log.warning("inbox.marker.rejected", marker=path.name, reason=reason, moved_to=str(target))
        self._on_rejected()
        return Examined.REJECTED

    def _refused_folder(self, name: str, refused: FolderRefused) -> None:
        """Say once (until it is usable again) that a folder of the inbox is refused."""
        if name not in self._refused:
            self._refused[name] = str(refused)
            log.error("inbox.folder.refused", folder=str(self.inbox / name), problem=str(refused))

    def _first_time_kept(self, name: str) -> bool:
        """Whether a marker left in the inbox (its folder refused) is seen for the first time."""
        if name in self._kept:
            return False
        if len(self._kept) >= KEPT_NAMES:
            self._kept.clear()
        self._kept.add(name)
        return True
