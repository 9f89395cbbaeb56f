"""FlowAPI poll -> run start latency, and how long the daemon takes to notice recovery from a fault.

Run by hand: ``.venv/bin/python bench/bench_flowapi.py [--repeat 5]``. Starts the real daemon
against the tests' fake FlowAPI on 127.0.0.1 (the real flowclient talks HTTP to it) and, for
each repeat, publishes one new date on the server. It prints:

- poll -> run start: from the server answering the poll that first lists the date to the
  daemon's ``run.started`` line (what the daemon adds; independent of ``poll_interval``);
- date -> run start: from the date appearing on the server to ``run.started`` (includes the
  wait for the next poll: about half of ``poll_interval`` on average);
- recovery: after each fault (500, hang past ``timeout``, 401) is cleared, the time until a new
  date's run starts.

For scale it also times one raw ``flowclient.get_available_dates`` call in this process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "flowapi")]

import flowclient  # noqa: E402
from fake_flowapi import FakeFlowApi  # noqa: E402
from notebooks import write_notebook  # noqa: E402

POLL_INTERVAL_S = 2.0
CONFIG = """
[paths]
notebooks = "notebooks"
state = "sqlite:///var/state/bench.db"
[execution]
max_parallel_runs = 4
retry_backoff = "1s"
[flowapi]
url = "{url}"
token_file = "token"
poll_interval = "{poll}s"
timeout = "1s"
[[workflow]]
name = "probe"
datasets = ["calls"]
  [[workflow.notebook]]
  name = "probe"
  path = "probe.ipynb"
"""


class Daemon:
    """The real daemon in a subprocess, with its JSON log lines read as they come."""

    def __init__(self, folder: Path) -> None:
        self.log_path = folder / "daemon.log"
        self._log = self.log_path.open("wb")
        command = [sys.executable, "-m", "autoflow_watch", "run", "--config", str(folder / "bench.toml")]
        self.process = subprocess.Popen(command, stderr=self._log)

    def started(self, day: str) -> bool:
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"run.started"' in line and json.loads(line).get("reference_date") == day:
                return True
        return False

    def has(self, event: str) -> bool:
        return f'"{event}"' in self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        self._log.close()


def wait(predicate: Callable[[], bool], timeout: float = 120.0) -> float:
    """Poll ``predicate`` every 5 ms; return the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.005)
    return time.monotonic()


def first_poll_after(server: FakeFlowApi, since: float) -> float:
    wait(lambda: any(r.at > since for r in server.seen()))
    return next(r.at for r in server.seen() if r.at > since)


def new_date(server: FakeFlowApi, daemon: Daemon, index: int) -> tuple[float, float]:
    """Publish one more date; return (poll -> run start, date -> run start) in seconds."""
    day = f"2026-10-{index + 1:02d}"
    listed = time.monotonic()
    server.dates["calls"] = [*server.dates["calls"], day]  # type: ignore[list-item]
    polled = first_poll_after(server, listed)
    started = wait(lambda: daemon.started(day))
    return started - polled, started - listed


def raw_flowclient(server: FakeFlowApi, token: str) -> float:
    started = time.perf_counter()
    connection = flowclient.connect(url=server.url, token=token)
    flowclient.get_available_dates(connection=connection)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, FakeFlowApi({"calls": []}, hang_s=4.0) as server:
        folder = Path(name)
        write_notebook(folder / "notebooks" / "probe.ipynb", 'reference_date = ""', "print(reference_date)")
        token = server.make_token()
        (folder / "token").write_text(token, encoding="utf-8")
        (folder / "bench.toml").write_text(CONFIG.format(url=server.url, poll=POLL_INTERVAL_S), encoding="utf-8")
        raw = statistics.median(raw_flowclient(server, token) for _ in range(5))
        daemon = Daemon(folder)
        try:
            wait(lambda: daemon.has("daemon.ready"))
            latencies = [new_date(server, daemon, i) for i in range(args.repeat)]
            recoveries = {fault: recovery(server, daemon, fault, args.repeat + i) for i, fault in enumerate(FAULTS)}
        finally:
            daemon.stop()
    poll, listed = zip(*latencies, strict=True)
    print(f"raw flowclient.get_available_dates against the fake: {raw * 1000:.1f} ms (median of 5)")
    print(
        f"poll -> run start: median {statistics.median(poll):.3f}s, max {max(poll):.3f}s "
        f"over {args.repeat} dates {[round(x, 3) for x in poll]}"
    )
    print(
        f"date on server -> run start (poll_interval {POLL_INTERVAL_S:g}s): median {statistics.median(listed):.2f}s, "
        f"max {max(listed):.2f}s"
    )
    for fault, seconds in recoveries.items():
        print(f"after {fault:<12} cleared: new date's run started {seconds:.2f}s later")


FAULTS = ("server_error", "hang", "unauthorized")


def recovery(server: FakeFlowApi, daemon: Daemon, fault: str, index: int) -> float:
    """Hold the fault for three polls, clear it, and time until a date added meanwhile runs."""
    server.set_mode(fault)
    time.sleep(3 * POLL_INTERVAL_S)
    day = f"2026-10-{index + 1:02d}"
    server.dates["calls"] = [*server.dates["calls"], day]  # type: ignore[list-item]
    cleared = time.monotonic()
    server.set_mode("ok")
    return wait(lambda: daemon.started(day)) - cleared


if __name__ == "__main__":
    main()
