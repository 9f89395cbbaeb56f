"""Start and stop the real ``autoflow-watch`` daemon for end-to-end tests, and read its logs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar


def wait_for(
    predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def cli(
    config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run one ``autoflow-watch`` command to completion."""
    command, rest = args[0], args[1:]
    return subprocess.run(
        [sys.executable, "-m", "autoflow_watch", command, "--config", str(config), *rest],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


class DaemonProcess:
    """``autoflow-watch run`` in a subprocess, its JSON log in a file beside the config."""

    started: ClassVar[list[DaemonProcess]] = []  # what stop_leftovers() stops after each test

    def __init__(self, config: Path, *, env: dict[str, str] | None = None, once: bool = False) -> None:
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.once = once
        self.log_path = config.parent / f"daemon-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> DaemonProcess:
        args = [sys.executable, "-m", "autoflow_watch", "run", "--config", str(self.config)]
        if self.once:
            args.append("--once")
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, env=self.env)
        DaemonProcess.started.append(self)
        if wait_ready:
            self.wait_for_event("daemon.ready", timeout=timeout)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"event": "<raw>", "text": raw})
        return lines

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.logs() if line.get("event") == name]

    def wait_for_event(self, name: str, timeout: float = 60.0, count: int = 1) -> list[dict[str, Any]]:
        def seen() -> list[dict[str, Any]] | None:
            assert self.process is not None
            if self.process.poll() is not None and len(self.events(name)) < count:
                raise AssertionError(
                    f"daemon exited with {self.process.returncode} before {name!r}:\n{self.log_text()}"
                )
            found = self.events(name)
            return found if len(found) >= count else None

        return wait_for(seen, timeout, what=f"log event {name!r} x{count}")

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)
        self._log.close()

    def wait(self, timeout: float = 300.0) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code


def recorded_kernel_pids(state_db: Path) -> list[int]:
    """Every kernel pid any attempt recorded: how tests find kernels, never by process name."""
    with sqlite3.connect(state_db) as conn:
        rows = conn.execute("SELECT kernel_pids_json FROM attempts WHERE kernel_pids_json IS NOT NULL").fetchall()
    return [pid for (text,) in rows for pid in json.loads(text)]


def alive_pids(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(pid)
        except (OSError, IndexError):
            continue
    return alive


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (workers, kernels, what kernels started), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return alive_pids(found)


def cmdline(pid: int) -> bytes:
    """A process's command line as /proc has it; empty when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _cmdline_and_parent(pid: int) -> tuple[bytes, int] | None:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return cmdline, parent


def kernels_among(pids: list[int]) -> list[int]:
    """The kernels among ``pids``: spawned ones by their command line, forked ones by their parent.

    A forked kernel has its template's command line (``…/sandbox/template.py``) and the template
    as its parent; a template itself is not a kernel.
    """
    seen = {pid: found for pid in pids if (found := _cmdline_and_parent(pid)) is not None}
    templates = {pid for pid, (cmdline, _) in seen.items() if b"sandbox/template.py" in cmdline}
    spawned = [pid for pid, (cmdline, _) in seen.items() if b"ipykernel" in cmdline and pid not in templates]
    forked = [pid for pid in templates if seen[pid][1] in templates]
    return sorted(spawned + forked)


def assert_no_kernels_left(state_db: Path, timeout: float = 10.0) -> None:
    pids = recorded_kernel_pids(state_db)
    wait_for(lambda: not alive_pids(pids), timeout, what=f"kernels {alive_pids(pids)} to be gone")


def stop_leftovers(timeout: float = 30.0) -> list[int]:
    """Stop every daemon a test started and left running (it failed before its own stop); their pids.

    A daemon left behind would go on using the CPU, the test's folders and this worker's
    PostgreSQL database while later tests run: SIGTERM, then SIGKILL for it and all below it.
    """
    left = [daemon for daemon in DaemonProcess.started if daemon.process and daemon.process.poll() is None]
    DaemonProcess.started.clear()
    for daemon in left:
        assert daemon.process is not None
        below = descendants(daemon.pid)
        daemon.process.send_signal(signal.SIGTERM)
        try:
            daemon.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            daemon.process.kill()
            daemon.process.wait(timeout=10)
        for pid in alive_pids(below):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        daemon._log.close()
    return [daemon.pid for daemon in left]
