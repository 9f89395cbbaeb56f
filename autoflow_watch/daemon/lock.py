"""The single-instance lock: one daemon per SQLite store.

``flock`` is released by the kernel when its holder dies, however it dies, so holding
the lock *proves* any previous holder is gone: its running runs can be reclaimed at once
instead of waiting for their leases to expire.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url


class AlreadyRunning(Exception):
    """Another daemon holds the store; the message names it and what to do."""


class InstanceLock:
    """The single-instance lock of a SQLite store: an flock beside the database, released on any exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_store(cls, state_url: str) -> InstanceLock | None:
        """The lock for an SQLite store; None for a server store shared by several daemons."""
        url = make_url(state_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return cls(Path(f"{url.database}.lock"))

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"another autoflow-watch (pid {holder}) is already running on this state store "
                f"(lock {self.path}); stop it first, or give this one its own [paths] state"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
