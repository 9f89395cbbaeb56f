"""FlowDB row commit -> run start latency: LISTEN/NOTIFY against polling.

Run by hand: ``.venv/bin/python bench/bench_flowdb.py [--dates 20] [--poll-interval 60]``.
Starts a private PostgreSQL cluster (as the tests do) with FlowKit's ``etl.etl_records`` and
the shipped trigger, then the real daemon twice: once with ``listen = true`` (and a ten-minute
``poll_interval``, so only NOTIFY can be fast) and once with ``listen = false`` at the
shortest ``poll_interval`` docs/flowdb.md recommends (1 minute). For each of ``--dates``
days it commits one row as FlowETL does and measures, from the commit to the daemon's
``run.started`` line (its own timestamp), how long the run took to start. With LISTEN the
rows are committed a few seconds apart; for polling they are committed at random moments
over five intervals, so each pays a random part of an interval (half of one on average).

For scale it measures, in the same run, the raw tools: psycopg's own commit -> notification
latency on a LISTENing connection, and one availability query (FlowMachine's).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "flowdb")]

import psycopg  # noqa: E402
from flowdb_helpers import FlowDb  # noqa: E402
from notebooks import write_notebook  # noqa: E402
from private_postgres import PrivatePostgres, postgres_bin  # noqa: E402

from autoflow_watch.sources.flowdb.rows import AVAILABLE_SQL, CHANNEL  # noqa: E402

CONFIG = """
[paths]
notebooks = "notebooks"
state = "sqlite:///var/state/bench-{name}.db"
[execution]
max_parallel_runs = 20
[flowdb]
url = "{url}"
poll_interval = "{poll}s"
listen = {listen}
timeout = "10s"
[[workflow]]
name = "probe"
datasets = ["{dataset}"]
  [[workflow.notebook]]
  name = "probe"
  path = "probe.ipynb"
  report = {{ formats = ["html"] }}
"""


class Daemon:
    """The real daemon in a subprocess; its JSON log lines read from its log file."""

    def __init__(self, config: Path) -> None:
        self.log_path = config.with_suffix(".log")
        self._log = self.log_path.open("wb")
        command = [sys.executable, "-m", "autoflow_watch", "run", "--config", str(config)]
        self.process = subprocess.Popen(command, stderr=self._log)

    def lines(self, event: str) -> list[dict[str, object]]:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return [json.loads(line) for line in text.splitlines() if f'"{event}"' in line]

    def started_at(self, day: str) -> float | None:
        """The epoch time of the ``run.started`` line for ``day``, from the daemon's own timestamp."""
        for line in self.lines("run.started"):
            if line.get("reference_date") == day:
                stamp = str(line["timestamp"]).replace("Z", "+00:00")
                return dt.datetime.fromisoformat(stamp).timestamp()
        return None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        self._log.close()


def wait(predicate: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.01)
    return value


def measure(
    folder: Path, flowdb: FlowDb, *, name: str, listen: bool, poll_s: float, offsets: list[float]
) -> list[float]:
    """Commit one row per date at each offset (seconds from start); return commit -> run start latencies."""
    dataset = f"calls_{name}"  # each daemon has a dataset of its own
    config = folder / f"{name}.toml"
    text = CONFIG.format(name=name, url=flowdb.config_url(), poll=poll_s, listen=str(listen).lower(), dataset=dataset)
    config.write_text(text, encoding="utf-8")
    daemon = Daemon(config)
    committed: dict[str, float] = {}
    try:
        wait(lambda: daemon.lines("flowdb.mode"), 60)
        start = time.monotonic()
        for index, offset in enumerate(sorted(offsets)):
            time.sleep(max(0.0, start + offset - time.monotonic()))
            day = (dt.date(2026, 1, 1) + dt.timedelta(days=index)).isoformat()
            flowdb.insert(dataset, day)
            committed[day] = time.time()
        for day in committed:
            wait(partial(daemon.started_at, day), poll_s + 120)
        return [float(daemon.started_at(day) or 0.0) - at for day, at in committed.items()]
    finally:
        daemon.stop()


def raw_notify(flowdb: FlowDb, repeat: int = 20) -> float:
    """Median commit -> notification latency on a psycopg connection LISTENing by itself."""
    samples = []
    with flowdb.connect() as listener, flowdb.connect() as writer:
        listener.execute(f"LISTEN {CHANNEL}")
        for index in range(repeat):
            writer.execute(
                "INSERT INTO etl.etl_records (cdr_type, cdr_date, state) VALUES ('raw', %s, 'ingested')",
                (dt.date(2025, 1, 1) + dt.timedelta(days=index),),
            )
            committed = time.perf_counter()
            next(iter(listener.notifies(timeout=10, stop_after=1)))
            samples.append(time.perf_counter() - committed)
    return statistics.median(samples)


def raw_query(flowdb: FlowDb, repeat: int = 20) -> float:
    with flowdb.connect() as conn:
        samples = []
        for _ in range(repeat):
            started = time.perf_counter()
            conn.execute(AVAILABLE_SQL).fetchall()
            samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def describe(label: str, values: list[float]) -> str:
    return f"{label}: median {statistics.median(values):.3f}s, max {max(values):.3f}s over {len(values)} dates"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dates", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=60.0, help="seconds, for the polling daemon")
    args = parser.parse_args()
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise SystemExit("needs PostgreSQL's binaries (scripts/test.sh installs them)")
    server = PrivatePostgres(bin_dir).create()
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            write_notebook(folder / "notebooks" / "probe.ipynb", 'reference_date = ""', "print(reference_date)")
            flowdb = FlowDb(f"postgresql+psycopg://autoflow@/autoflow?host={server.folder}").create()
            flowdb.install_trigger()
            notify_s, query_s = raw_notify(flowdb), raw_query(flowdb)
            spaced = [3.0 * i + random.uniform(0, 1) for i in range(args.dates)]  # one run at a time
            listened = measure(folder, flowdb, name="listen", listen=True, poll_s=600, offsets=spaced)
            spread = [random.uniform(0, 5 * args.poll_interval) for _ in range(args.dates)]  # random poll phases
            polled = measure(folder, flowdb, name="poll", listen=False, poll_s=args.poll_interval, offsets=spread)
    finally:
        server.destroy()
    print(f"psycopg {psycopg.__version__}; raw commit -> NOTIFY received: {notify_s * 1000:.2f} ms (median of 20)")
    print(f"raw availability query (FlowMachine's rule): {query_s * 1000:.2f} ms (median of 20)")
    print(describe("LISTEN (poll_interval 10m): commit -> run start", listened))
    print(describe(f"polling (poll_interval {args.poll_interval:g}s, listen = false): commit -> run start", polled))
    print(
        f"LISTEN median is {statistics.median(listened) / notify_s:.0f}x the raw NOTIFY latency; "
        f"polling median is {statistics.median(polled) / statistics.median(listened):.0f}x LISTEN's"
    )


if __name__ == "__main__":
    main()
