"""The systemd notify protocol: READY, STATUS, WATCHDOG, RELOADING, STOPPING.

The protocol is one datagram per message to ``$NOTIFY_SOCKET`` (``@`` meaning the abstract
namespace); the maintained libraries (systemd-python needs libsystemd headers to build,
sdnotify is unmaintained) add a dependency for about twenty lines, so we speak it directly.
"""

from __future__ import annotations

import os
import socket
import time


class Notifier:
    """systemd's sd_notify: READY, STATUS, WATCHDOG, RELOADING and STOPPING on $NOTIFY_SOCKET (a no-op without it)."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        self._address = address
        self._watchdog_usec = watchdog_usec

    @classmethod
    def from_environment(cls) -> Notifier:
        """A notifier for systemd, or a silent one when not started by systemd."""
        address = os.environ.get("NOTIFY_SOCKET") or None
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        watchdog = int(usec) if usec and usec.isdigit() and (not pid or pid == str(os.getpid())) else None
        return cls(address, watchdog)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half of what systemd allows, as sd_watchdog_enabled(3) advises."""
        return self._watchdog_usec / 2_000_000 if self._watchdog_usec else None

    def send(self, *fields: str) -> None:
        if not self._address:
            return
        address = "\0" + self._address[1:] if self._address.startswith("@") else self._address
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            try:
                sock.sendto("\n".join(fields).encode(), address)
            except OSError:
                return  # systemd went away; nothing to tell

    def ready(self, status: str | None = None) -> None:
        self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def reloading(self) -> None:
        self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def stopping(self) -> None:
        self.send("STOPPING=1")
