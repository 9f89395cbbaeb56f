"""Watchdog's side of the inbox: which events announce a marker, and turning them into hints."""

from __future__ import annotations

import enum
import logging
import os
import queue
from collections.abc import Callable

from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
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

from autoflow_watch.logs import get_logger

log = get_logger("autoflow_watch.inbox")


class Hint(str, enum.Enum):
    """What an event says about its file: the inbox worker's queue carries (path, hint)."""

    COMPLETE = "complete"  # the writer is done with this file (moved in, or closed after writing)
    MAYBE_INCOMPLETE = "maybe-incomplete"  # created or modified: it may still be written to
    WAKE = "wake"  # no file: end the worker's wait (stop, rescan)


# The hint each watchdog event type gives, and whether it names the file by its destination.
_HINTS: dict[str, tuple[Hint, bool]] = {
    EVENT_TYPE_MOVED: (Hint.COMPLETE, True),
    EVENT_TYPE_CLOSED: (Hint.COMPLETE, False),
    EVENT_TYPE_CREATED: (Hint.MAYBE_INCOMPLETE, False),
    EVENT_TYPE_MODIFIED: (Hint.MAYBE_INCOMPLETE, False),
}

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
INOTIFY_LOGGER = "watchdog.observers.inotify_c"


class _Hints(FileSystemEventHandler):
    """Turns watchdog events into (path, kind) hints; never raises into the observer thread."""

    def __init__(self, hints: queue.Queue[tuple[str, Hint]], on_error: Callable[[], None]) -> None:
        self._hints = hints
        self._on_error = on_error

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            known = _HINTS.get(event.event_type)
            if known is not None:
                hint, at_destination = known
                self._hints.put((os.fsdecode(event.dest_path if at_destination else event.src_path), hint))
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
