"""Liveness of the daemon's parts, so that WATCHDOG=1 is only sent while all of them work.

A stuck main loop, a dead inbox observer or a hung FlowAPI poller stops the pings, and
systemd restarts the service: a hang becomes a restart instead of silence.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from autoflow_watch.daemon.notify import Notifier
from autoflow_watch.logs import get_logger

log = get_logger("autoflow_watch.health")


class Health:
    """What the watchdog pings depend on: components' health checks and the main loop's heartbeats."""

    def __init__(self) -> None:
        self._checks: dict[str, Callable[[], bool]] = {}
        self._beats: dict[str, float] = {}
        self._lock = threading.Lock()

    def register(self, name: str, check: Callable[[], bool]) -> None:
        with self._lock:
            self._checks[name] = check

    def register_heartbeat(self, name: str, max_age: float) -> None:
        self.beat(name)
        self.register(name, lambda: time.monotonic() - self._beats.get(name, 0.0) < max_age)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._checks)

    def beat(self, name: str) -> None:
        self._beats[name] = time.monotonic()

    def unhealthy(self) -> list[str]:
        with self._lock:
            checks = dict(self._checks)
        failing = []
        for name, check in checks.items():
            try:
                ok = check()
            except Exception:
                ok = False
            if not ok:
                failing.append(name)
        return failing


class WatchdogPinger:
    """Pings systemd's watchdog from its own thread while every component is healthy."""

    def __init__(self, notifier: Notifier, health: Health, period: float | None = None) -> None:
        self._notifier = notifier
        self._health = health
        self._period = period or notifier.watchdog_interval or 10.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchdog-pinger", daemon=True)
        self._reported: tuple[str, ...] = ()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            failing = tuple(self._health.unhealthy())
            if not failing:
                self._notifier.watchdog()
            if failing != self._reported:
                if failing:
                    log.warning("watchdog.withheld", stuck=list(failing))
                else:
                    log.info("watchdog.resumed")
                self._reported = failing
            self._stop.wait(self._period)
