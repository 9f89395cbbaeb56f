"""The chaos soak: 3 daemons, one PostgreSQL store, one inbox and outbox, while everything breaks.

Run by hand: ``.venv/bin/python tests/soak/chaos.py --minutes 30 [--seed N] [--markers 200]``
(``tests/soak/test_chaos_soak.py`` runs it for 3 minutes). It starts a PostgreSQL server of its
own (so restarting it disturbs nobody else), three daemons on one config, and feeds the inbox
``--markers`` markers spread over the first three quarters of the soak, plus hostile ones. A
seeded chaos loop meanwhile kills daemons (kill -9, restarted), pauses them past their lease
(SIGSTOP, SIGCONT), kills workers and kernels (kill -9), and restarts PostgreSQL. A reader
thread checks every report folder throughout. At the end, once every run has succeeded: every
(workflow, date) published exactly once, every manifest's hashes match its files, no folder seen
missing or mixed, no process left. Prints the seed and the counts; exits 1 on any violation.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from daemon_process import DaemonProcess, alive_pids, cli, descendants, kernels_among, wait_for  # noqa: E402
from faulty_project import single_notebook_project  # noqa: E402
from private_postgres import PrivatePostgres, postgres_bin  # noqa: E402
from report_reader import ReportReader  # noqa: E402

WORKFLOW = "faulty"  # the fault tests' project
DAEMONS = 3
PUBLISHED = ("run.published", "run.published_by_recovery")
CELL = "import random, time\ntime.sleep(random.uniform(0.2, 1.5))\nprint('soaked', reference_date)\n"
HOSTILE = {
    "notes.txt": b"not a marker",
    "calls_2026-02-30.ready": b"",
    "calls_2026-03-01.ready": b"{not json",
    "calls_2026-03-02.ready": b"[1, 2, 3]",
    "calls_2026-03-03.ready": b'{"a": "' + b"x" * 70_000 + b'"}',
    "calls_2026-03-04.ready": '{"caf\u00e9": "\udcff"}'.encode("utf-8", "surrogateescape"),
    "calls_2026-03-05.ready": b'{"a":' + b"[" * 30_000 + b"]" * 30_000 + b"}",  # nested too deep to parse
}


@dataclass
class Counts:
    """What the soak did and what it found."""

    seed: int
    markers: int = 0
    hostile: int = 0
    kills: int = 0
    pauses: int = 0
    worker_kills: int = 0
    kernel_kills: int = 0
    postgres_restarts: int = 0
    revived: int = 0  # daemons that exited by themselves (started while the store was down) and were restarted
    takeovers: int = 0
    lost: int = 0
    published: int = 0
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)


def write_project(folder: Path, state_url: str) -> Path:
    """The one-notebook project of the fault tests, on ``state_url``, with leases short and attempts many."""
    config = single_notebook_project(folder, CELL, execution='max_attempts = 50\nlease_timeout = "5s"')
    config.write_text(config.read_text().replace("sqlite:///var/state/autoflow.db", state_url))
    return config


class Soak:
    """One soak: its server, daemons, feeder, chaos loop and reader."""

    def __init__(self, folder: Path, minutes: float, markers: int, seed: int) -> None:
        self.folder, self.minutes, self.marker_count = folder, minutes, markers
        self.rng = random.Random(seed)
        self.counts = Counts(seed)
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise SystemExit("PostgreSQL is not installed")
        self.postgres = PrivatePostgres(bin_dir).create()
        self.config = write_project(folder, self.postgres.url)
        self.daemons: list[DaemonProcess] = []
        self.retired: list[DaemonProcess] = []
        self.seen_pids: dict[int, str] = {}  # pid -> its start time: a pid reused later is not ours
        self.reader = ReportReader(folder / "var" / "outbox")
        self.days = [(dt.date(2020, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(markers)]
        self.stop = threading.Event()

    # -- the parts ------------------------------------------------------------------------------------------
    def start(self) -> None:
        for _ in range(DAEMONS):
            self.daemons.append(DaemonProcess(self.config).start(timeout=180))
        self.reader.start()

    def feed(self, until: float) -> None:
        """The markers, spread evenly until ``until`` (monotonic), with a hostile one now and then."""
        inbox = self.folder / "var" / "inbox"
        hostile = list(HOSTILE.items())
        for index, day in enumerate(self.days):
            due = time.monotonic() + max(0.0, until - time.monotonic()) / max(1, len(self.days) - index)
            (inbox / f"calls_{day}.ready").touch()
            self.counts.markers += 1
            if hostile and self.rng.random() < 0.1:
                name, data = hostile.pop(0)
                (inbox / name).write_bytes(data)
                self.counts.hostile += 1
            while not self.stop.is_set() and time.monotonic() < due:
                time.sleep(0.05)

    def chaos(self, until: float) -> None:
        """One action every 2-6 s: kill, pause, worker or kernel kill, now and then a PostgreSQL restart."""
        actions = [self.kill_daemon, self.pause_daemon, self.kill_worker, self.kill_kernel]
        restarts_at = {until * 0.3 + time.monotonic() * 0.7, until * 0.7 + time.monotonic() * 0.3}
        while not self.stop.is_set() and time.monotonic() < until:
            self.revive()
            self.watch_pids()
            for moment in sorted(restarts_at):
                if time.monotonic() >= moment:
                    restarts_at.discard(moment)
                    self.restart_postgres()
            self.rng.choice(actions)()
            time.sleep(self.rng.uniform(2.0, 6.0))

    def revive(self) -> None:
        """A daemon that exited (one started while PostgreSQL was down gives up, as systemd would restart it)."""
        for index, daemon in enumerate(self.daemons):
            if daemon.process is not None and daemon.process.poll() is not None:
                self.retired.append(daemon)
                self.counts.revived += 1
                self.daemons[index] = DaemonProcess(self.config).start(wait_ready=False)

    def watch_pids(self) -> None:
        for daemon in self.daemons:
            if daemon.process is not None and daemon.process.poll() is None:
                self.note_pids([daemon.pid, *descendants(daemon.pid)])

    def note_pids(self, pids: list[int]) -> None:
        for pid in pids:
            started = start_time(pid)
            if started is not None:
                self.seen_pids.setdefault(pid, started)

    def kill_daemon(self) -> None:
        index = self.rng.randrange(len(self.daemons))
        victim = self.daemons[index]
        self.note_pids(descendants(victim.pid))
        victim.kill9()
        self.counts.kills += 1
        self.retired.append(victim)
        time.sleep(self.rng.uniform(0.5, 3.0))
        self.daemons[index] = DaemonProcess(self.config).start(wait_ready=False)

    def pause_daemon(self) -> None:
        victim = self.rng.choice(self.daemons)
        if victim.process is None or victim.process.poll() is not None:
            return
        victim.signal(signal.SIGSTOP)
        self.counts.pauses += 1
        time.sleep(self.rng.uniform(6.0, 10.0))  # past the 5 s lease: its runs are taken over
        victim.signal(signal.SIGCONT)

    def _children(self, kernels: bool) -> list[int]:
        found = []
        for daemon in self.daemons:
            if daemon.process is None or daemon.process.poll() is not None:
                continue
            below = descendants(daemon.pid)
            kernel_pids = set(kernels_among(below))
            found += [pid for pid in below if (pid in kernel_pids) == kernels]
        return found

    def kill_worker(self) -> None:
        self._kill_one(self._children(kernels=False), "worker_kills")

    def kill_kernel(self) -> None:
        self._kill_one(self._children(kernels=True), "kernel_kills")

    def _kill_one(self, pids: list[int], counter: str) -> None:
        if pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.rng.choice(sorted(pids)), signal.SIGKILL)
                setattr(self.counts, counter, getattr(self.counts, counter) + 1)

    def restart_postgres(self) -> None:
        self.postgres.stop()
        time.sleep(self.rng.uniform(1.0, 4.0))
        self.postgres.start()
        self.counts.postgres_restarts += 1

    # -- the end --------------------------------------------------------------------------------------------
    def all_succeeded(self) -> list[dict] | None:
        result = cli(self.config, "status", "--json", timeout=120)
        if result.returncode != 0:
            return None
        runs = [r for r in json.loads(result.stdout) if r["reference_date"] in set(self.days)]
        return runs if len(runs) == len(self.days) and all(r["state"] == "succeeded" for r in runs) else None

    def finish(self, drain_s: float) -> list[dict]:
        for daemon in self.daemons:  # whatever the chaos loop left paused goes on
            with contextlib.suppress(ProcessLookupError):
                daemon.signal(signal.SIGCONT)

        def done() -> list[dict] | None:
            self.revive()
            return self.all_succeeded()

        runs = wait_for(done, drain_s, interval=2.0, what="every run succeeded")
        time.sleep(3)  # a reader pass over the last reports
        self.reader.stop()
        self.watch_pids()
        for daemon in self.daemons:
            if daemon.stop(timeout=120) != 0:
                self.counts.problems.append(f"daemon {daemon.pid} did not exit 0 on SIGTERM")
        return runs

    def check(self, runs: list[dict]) -> None:
        outbox = self.folder / "var" / "outbox" / WORKFLOW
        logs = [e for d in [*self.retired, *self.daemons] for e in d.logs()]
        published = Counter(e["reference_date"] for e in logs if e.get("event") in PUBLISHED)
        self.counts.published = sum(1 for day in self.days if (outbox / day / "manifest.json").is_file())
        self.counts.duplicates = sum(1 for day, n in published.items() if n > 1)
        self.counts.takeovers = sum(1 for e in logs if e.get("event") == "run.recovered")
        self.counts.lost = sum(1 for e in logs if e.get("event") == "run.lost")
        problems = self.counts.problems
        problems += [f"{day} published {n} times" for day, n in published.items() if n > 1]
        for run in runs:
            problems += check_report(outbox / run["reference_date"], run["run_id"])
        problems += [f"reader: {what}" for what in self.reader.missing[:5] + self.reader.mixed[:5]]
        left = wait_left(self.seen_pids)
        problems += [f"process {pid} left behind" for pid in left]

    def close(self) -> None:
        self.stop.set()
        for daemon in self.daemons:
            if daemon.process is not None and daemon.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    daemon.signal(signal.SIGCONT)
                daemon.kill9()
        self.postgres.destroy()


def check_report(folder: Path, run_id: str) -> list[str]:
    """The report of ``run_id``, complete: its manifest names it and describes its files."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return [f"{folder.name}: no readable manifest ({error})"]
    problems = [] if manifest.get("run_id") == run_id else [f"{folder.name}: report of {manifest.get('run_id')}"]
    for output in manifest.get("outputs", []):
        data = (folder / output["path"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != output["sha256"]:
            problems.append(f"{folder.name}: {output['path']} does not match its manifest")
    return problems


def start_time(pid: int) -> str | None:
    """A process's start time (clock ticks after boot): with its pid, who it is on a busy machine."""
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def wait_left(pids: dict[int, str], timeout: float = 30.0) -> list[int]:
    """Our processes still alive (a pid that another process took since does not count)."""

    def ours() -> list[int]:
        return [pid for pid in alive_pids(sorted(pids)) if start_time(pid) == pids[pid]]

    deadline = time.monotonic() + timeout
    while ours() and time.monotonic() < deadline:
        time.sleep(0.5)
    return ours()


def run_soak(folder: Path, minutes: float, markers: int, seed: int, drain_s: float = 900.0) -> Counts:
    """The whole soak in ``folder``; returns the counts (``problems`` empty when it passed)."""
    print(f"chaos soak: seed {seed}, {minutes} min, {markers} markers, in {folder}", flush=True)
    soak = Soak(folder, minutes, markers, seed)
    try:
        soak.start()
        until = time.monotonic() + minutes * 60
        feeder = threading.Thread(target=soak.feed, args=(time.monotonic() + minutes * 45,), daemon=True)
        feeder.start()
        soak.chaos(until)
        feeder.join()
        runs = soak.finish(drain_s)
        soak.check(runs)
    finally:
        soak.close()
    return soak.counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--markers", type=int, default=200)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    folder = args.folder or Path(tempfile.mkdtemp(prefix="afw-soak-"))
    counts = run_soak(folder, args.minutes, args.markers, seed)
    print(json.dumps(counts.__dict__, indent=2), flush=True)
    return 1 if counts.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
