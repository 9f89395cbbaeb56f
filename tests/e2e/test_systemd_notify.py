"""The daemon speaks systemd's notify protocol, as a Type=notify service with WatchdogSec."""

from __future__ import annotations

import signal
import socket
import sqlite3
import threading
import time

import pytest
from daemon_process import DaemonProcess, wait_for
from faulty_project import drop_marker, single_notebook_project

pytestmark = pytest.mark.e2e


class NotifySocket:
    """What systemd would receive: every datagram on $NOTIFY_SOCKET, timestamped."""

    def __init__(self, path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            for field in data.decode().split("\n"):
                self.messages.append((time.monotonic(), field))

    def fields(self, prefix: str) -> list[tuple[float, str]]:
        return [(t, f) for t, f in self.messages if f.startswith(prefix)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path):
    listener = NotifySocket(tmp_path / "notify.sock")
    yield listener
    listener.close()


def test_ready_status_watchdog_reloading_and_stopping_arrive_in_order(tmp_path, notify_socket):
    config = single_notebook_project(tmp_path, "print('ok')")
    env = {"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "1000000"}
    daemon = DaemonProcess(config, env=env).start()
    wait_for(lambda: notify_socket.fields("READY=1"), timeout=30, what="READY=1")
    drop_marker(config)
    wait_for(
        lambda: any("last report faulty/2026-11-24" in f for _, f in notify_socket.fields("STATUS=")),
        timeout=60,
        what="a STATUS line naming the last report",
    )
    time.sleep(1.5)
    daemon.signal(signal.SIGHUP)
    wait_for(lambda: notify_socket.fields("RELOADING=1"), timeout=30, what="RELOADING=1")
    assert daemon.stop() == 0
    order = [
        f.split("=")[0] for _, f in notify_socket.messages if f.split("=")[0] in ("READY", "RELOADING", "STOPPING")
    ]
    assert order[0] == "READY" and "RELOADING" in order and order[-1] == "STOPPING"
    assert order.index("RELOADING") < len(order) - 1 and order[order.index("RELOADING") + 1] == "READY"
    pings = [t for t, _ in notify_socket.fields("WATCHDOG=1")]
    assert len(pings) >= 3, "periodic WATCHDOG=1 at half of WATCHDOG_USEC"
    assert notify_socket.fields("MONOTONIC_USEC="), "RELOADING=1 carries MONOTONIC_USEC"


def test_watchdog_pings_stop_while_the_main_loop_hangs_and_resume_after(tmp_path, notify_socket):
    config = single_notebook_project(tmp_path, "import time\ntime.sleep(30)", execution='shutdown_grace = "1s"')
    env = {"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "1000000"}
    daemon = DaemonProcess(config, env=env).start()
    try:
        drop_marker(config)
        daemon.wait_for_event("run.started", timeout=30)
        wait_for(lambda: len(notify_socket.fields("WATCHDOG=1")) >= 2, timeout=30, what="first pings")
        db = sqlite3.connect(tmp_path / "var" / "state" / "autoflow.db", timeout=30, isolation_level=None)
        # the store hangs for writers: the main loop blocks renewing the running run's lease
        db.execute("BEGIN EXCLUSIVE")
        hung_at = time.monotonic()
        time.sleep(6)
        db.execute("COMMIT")
        db.close()
        released_at = time.monotonic()
        wait_for(
            lambda: any(t > released_at for t, _ in notify_socket.fields("WATCHDOG=1")),
            timeout=20,
            what="pings to resume",
        )
    finally:
        assert daemon.stop() == 0
    during = [t for t, _ in notify_socket.fields("WATCHDOG=1") if hung_at + 3.5 < t < released_at]
    assert during == [], "no WATCHDOG=1 while the main loop was stuck (systemd would restart us)"
    assert daemon.events("watchdog.withheld")
