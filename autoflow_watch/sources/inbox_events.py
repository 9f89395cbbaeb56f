"""Watchdog's side of the inbox: which events announce a marker, and turning them into hints."""

from __future__ import annotations

import logging
import os
import queue
from collections.abc import Callable

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

from autoflow_watch.logs import get_logger

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
INOTIFY_LOGGER = "watchdog.observers.inotify_c"


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
