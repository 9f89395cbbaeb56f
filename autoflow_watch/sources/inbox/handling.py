"""What the inbox does with the entries it looks at: good markers become facts, bad ones are rejected.

A batch of entries is examined one by one; the good markers are recorded in chunks, one store
transaction each, and moved to ``processed/`` only after it has committed (a crash in between
leaves them for the next scan, which recognises them). A bad marker goes to ``rejected/`` with
its reason; ``processed/`` and ``rejected/`` are opened by descriptor and refused if they are
not the daemon's own, said once per folder and once per marker kept in place.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from autoflow_watch.logs import get_logger
from autoflow_watch.sources.inbox.markers import BadMarker, Examined, Marker, MarkerGone, is_ignored, read_marker
from autoflow_watch.sources.inbox.quarantine import FolderRefused, InboxFolders, MovedElsewhere, move_to, reject
from autoflow_watch.sources.source import RecordFacts
from autoflow_watch.vocabulary import Fact, FactChange

log = get_logger("autoflow_watch.inbox")

RECORD_CHUNK = 500  # markers per store transaction
RETRY_ITEM_S = 5.0  # an entry whose examination failed unexpectedly waits this long
KEPT_NAMES = 10_000  # markers remembered as left in place (said once), at most


@dataclass
class ScanResult:
    """What one scan of the inbox did with the markers it found."""

    accepted: int = 0
    rejected: int = 0
    deferred: int = 0


class MarkerHandler:
    """Examines inbox entries: records good markers as facts and moves them on, rejects bad ones."""

    def __init__(
        self,
        inbox: Path,
        settle_s: float,
        record: RecordFacts,
        on_fact: Callable[[], None],
        is_used: Callable[[str], bool],
        on_rejected: Callable[[], None],
    ) -> None:
        self.inbox = inbox
        self.processed = inbox / "processed"
        self.rejected = inbox / "rejected"
        self._settle = settle_s
        self._record = record
        self._on_fact = on_fact
        self._is_used = is_used
        self._on_rejected = on_rejected
        self.deferred: dict[str, float] = {}  # entries to look at again, and when (monotonic)
        self._refused: dict[str, str] = {}  # inbox folders refused (not the daemon's own), said once
        self._kept: set[str] = set()  # markers left in the inbox because their folder is refused

    def make_folders(self) -> None:
        """The inbox by path (the operator's); processed/ and rejected/ by descriptor, refused if not ours."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        with InboxFolders(self.inbox) as dirs:
            for name in (self.processed.name, self.rejected.name):
                try:
                    dirs.folder(name)
                except FolderRefused as refused:
                    self._refused_folder(name, refused)

    def handle(self, entries: Iterable[tuple[Path, bool]]) -> ScanResult:
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
            self.deferred[str(path)] = time.monotonic() + RETRY_ITEM_S
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
        settle = self._settle
        if stat.S_ISREG(info.st_mode) and not complete and time.time() - info.st_mtime < settle:
            self.deferred[str(path)] = time.monotonic() + settle
            return Examined.DEFERRED
        self.deferred.pop(str(path), None)
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
