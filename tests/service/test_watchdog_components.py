"""WATCHDOG=1 stops while *any* component is stuck: the inbox watcher and the FlowAPI poller too.

tests/e2e/test_systemd_notify.py hangs the main loop of a real daemon; here the pinger runs
with a real notifier on a real datagram socket, and the components' health checks are made
to fail, one at a time, the way a hung thread makes them fail (its heartbeat stops).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import structlog

from autoflow_watch.daemon.health import Health, WatchdogPinger
from autoflow_watch.daemon.notify import Notifier
from autoflow_watch.daemon.sources import Sources
from autoflow_watch.sources import registry

PERIOD = 0.05


class NotifySocket:
    """What systemd would receive on $NOTIFY_SOCKET; counts the WATCHDOG=1 pings."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.path)
        self._sock.settimeout(0.01)
        self._received: list[str] = []

    def count(self) -> int:
        while True:
            try:
                self._received.append(self._sock.recv(4096).decode())
            except TimeoutError:
                return self._received.count("WATCHDOG=1")

    def during(self, seconds: float) -> int:
        before = self.count()
        time.sleep(seconds)
        return self.count() - before

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def pings(tmp_path: Path) -> Iterator[NotifySocket]:
    listener = NotifySocket(tmp_path / "notify.sock")
    yield listener
    listener.close()


@pytest.mark.parametrize("component", ["inbox", "flowapi"])
def test_a_stuck_component_withholds_the_pings_until_it_recovers(pings: NotifySocket, component: str) -> None:
    beats = {"main": time.monotonic(), "inbox": time.monotonic(), "flowapi": time.monotonic()}
    health = Health()
    for name in beats:  # each check: "my thread beat recently", as InboxSource/FlowApiSource.healthy
        health.register(name, lambda name=name: time.monotonic() - beats[name] < 0.3)
    stop = threading.Event()

    def beating() -> None:
        while not stop.wait(0.02):
            for name in beats:
                if name != stuck.get("name"):
                    beats[name] = time.monotonic()

    stuck: dict[str, str] = {}
    beater = threading.Thread(target=beating, daemon=True)
    beater.start()
    pinger = WatchdogPinger(Notifier(pings.path, watchdog_usec=2 * int(PERIOD * 1e6)), health, period=PERIOD)
    with structlog.testing.capture_logs() as events:
        pinger.start()
        try:
            healthy = pings.during(0.5)
            stuck["name"] = component  # its thread hangs: no more beats
            time.sleep(0.4)  # the check's max age runs out
            while_stuck = pings.during(0.5)
            stuck.clear()
            time.sleep(0.1)
            recovered = pings.during(0.5)
        finally:
            pinger.stop()
            stop.set()
            beater.join()
    assert healthy >= 4 and recovered >= 4
    assert while_stuck == 0, f"WATCHDOG=1 sent while {component} was stuck: systemd would never restart us"
    withheld = [e for e in events if e["event"] == "watchdog.withheld"]
    assert withheld and withheld[0]["stuck"] == [component], "the journal names the stuck component"
    assert any(e["event"] == "watchdog.resumed" for e in events)


def test_a_health_check_that_raises_counts_as_stuck() -> None:
    health = Health()
    health.register("flowapi", lambda: 1 / 0 == 0)
    health.register("inbox", lambda: True)
    assert health.unhealthy() == ["flowapi"]


def test_the_daemon_watches_every_running_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sources hands the daemon a check for each running source of the registry, which it registers with Health."""
    stuck = SimpleNamespace(running=True, healthy=lambda: False, start=lambda: None)
    not_started = SimpleNamespace(running=False, healthy=lambda: False, start=lambda: None)
    monkeypatch.setattr(registry, "SOURCES", {})
    registry.register("inbox", lambda ctx: stuck, lambda app: True)  # type: ignore[arg-type,return-value]
    registry.register("flowapi", lambda ctx: stuck, lambda app: True)  # type: ignore[arg-type,return-value]
    registry.register("idle", lambda ctx: not_started, lambda app: True)  # type: ignore[arg-type,return-value]
    registry.register("absent", lambda ctx: stuck, lambda app: False)  # type: ignore[arg-type,return-value]
    ctx = SimpleNamespace(
        config=SimpleNamespace(app=None, workflows={}),
        store=SimpleNamespace(facts=SimpleNamespace(record_batch=list)),
        prompt_planning=lambda: None,
    )
    sources = Sources(ctx)  # type: ignore[arg-type]
    sources.start(once=False)
    checks = sources.health_checks()
    assert sorted(checks) == ["flowapi", "inbox"]
    assert not any(check() for check in checks.values())
