"""Inbox marker source: event -> fact latency, and how long a burst of markers takes to absorb.

Run by hand: ``.venv/bin/python bench/bench_inbox.py [--singles 200] [--bursts 1000 10000]``.
Uses the real InboxSource (native inotify observer, default settle and rescan interval) and a
real SQLite store in a temporary folder. Latency is measured from the writer's close() to the
moment the store transaction that recorded the fact has committed; a burst is timed from the
first marker written (by a separate writer process, as fast as it can) until every marker is
a fact and has been moved to processed/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autoflow_watch.config.model import InboxConfig  # noqa: E402
from autoflow_watch.logs import configure  # noqa: E402
from autoflow_watch.sources.inbox.source import InboxSource  # noqa: E402
from autoflow_watch.store import Store  # noqa: E402
from autoflow_watch.vocabulary import Fact, FactChange  # noqa: E402

FIRST_DAY = dt.date(2000, 1, 1)
SINGLE_WRITER = """
import os, sys, time
for line in sys.stdin:
    fd = os.open(line.strip(), os.O_CREAT | os.O_WRONLY, 0o644)
    before_close = time.monotonic()
    os.close(fd)
    print(before_close, flush=True)
"""
WRITER = """
import datetime as dt, os, sys
inbox, count = sys.argv[1], int(sys.argv[2])
first = dt.date(2000, 1, 1)
for i in range(count):
    day = first + dt.timedelta(days=i)
    os.close(os.open(os.path.join(inbox, f"calls_{day.isoformat()}.ready"), os.O_CREAT | os.O_WRONLY, 0o644))
"""


class Recorder:
    """Wraps the store's batch recording: notes when each fact's transaction has committed."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.committed: dict[tuple[str, dt.date], float] = {}
        self.changed = threading.Condition()

    def __call__(self, facts: list[Fact]) -> list[FactChange]:
        changes = self._store.facts.record_batch(facts)
        now = time.monotonic()
        with self.changed:
            for fact in facts:
                self.committed.setdefault((fact.dataset, fact.day), now)
            self.changed.notify_all()
        return changes

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.committed) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"timed out: {len(self.committed)} of {count} facts recorded")
                self.changed.wait(left)


def _source(folder: Path) -> tuple[InboxSource, Recorder, Store]:
    store = Store(f"sqlite:///{folder}/state/bench.db")
    recorder = Recorder(store)
    source = InboxSource(folder / "inbox", InboxConfig(), recorder)
    source.start()
    return source, recorder, store


def latency(singles: int) -> list[float]:
    """One marker at a time, from a writer process: its close() -> committed fact, in seconds.

    The writer takes its timestamp just before close(), so each figure is an upper bound. Both
    processes read CLOCK_MONOTONIC (``time.monotonic``), which is system-wide on Linux.
    """
    with tempfile.TemporaryDirectory() as tmp:
        source, recorder, store = _source(Path(tmp))
        writer = subprocess.Popen(
            [sys.executable, "-c", SINGLE_WRITER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert writer.stdin is not None and writer.stdout is not None
        try:
            samples = []
            for i in range(singles):
                day = FIRST_DAY + dt.timedelta(days=i)
                writer.stdin.write(f"{source.inbox / f'calls_{day.isoformat()}.ready'}\n")
                writer.stdin.flush()
                closed = float(writer.stdout.readline())
                recorder.wait_for(i + 1, timeout=30)
                samples.append(recorder.committed[("calls", day)] - closed)
            return samples
        finally:
            writer.stdin.close()
            writer.wait(10)
            source.stop()
            store.close()


def burst(count: int) -> tuple[float, float, int]:
    """``count`` markers written as fast as possible by another process; seconds until all absorbed."""
    with tempfile.TemporaryDirectory() as tmp:
        source, recorder, store = _source(Path(tmp))
        try:
            started = time.monotonic()
            subprocess.run([sys.executable, "-c", WRITER, str(source.inbox), str(count)], check=True)
            written = time.monotonic() - started
            recorder.wait_for(count, timeout=600)
            while len(os.listdir(source.processed)) < count:
                time.sleep(0.01)
            absorbed = time.monotonic() - started
            assert store.facts.count() == count
            assert not os.listdir(source.rejected)
            assert [e for e in os.listdir(source.inbox) if e not in ("processed", "rejected")] == []
            return absorbed, written, source.scans
        finally:
            source.stop()
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--bursts", type=int, nargs="*", default=[1000, 10000])
    args = parser.parse_args()
    # JSON log lines, as under journald, rendered but not kept: their cost is part of the figures.
    configure(stream=open(os.devnull, "w"), json_lines=True)  # noqa: SIM115
    print(f"machine: {os.cpu_count()} cores, {sys.platform}, Python {sys.version.split()[0]}")
    samples = sorted(latency(args.singles))
    p99 = samples[min(len(samples) - 1, round(0.99 * len(samples)) - 1)]
    print(
        f"event -> fact latency over {len(samples)} single markers: median {statistics.median(samples) * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {samples[-1] * 1000:.1f} ms"
    )
    for count in args.bursts:
        absorbed, written, scans = burst(count)
        print(
            f"burst of {count} markers: all facts and in processed/ after {absorbed:.2f} s "
            f"(writer took {written:.2f} s; {absorbed and count / absorbed:.0f} markers/s; scans {scans})"
        )


if __name__ == "__main__":
    main()
