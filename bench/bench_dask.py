"""The Dask executor: speed-up of 2 workers over 1, and per-notebook overhead against the local executor.

Run by hand: ``.venv/bin/python bench/bench_dask.py [--runs 8] [--seconds 3]``. Starts a real
``dask scheduler`` and ``dask worker`` processes (1 thread each) on 127.0.0.1, runs the daemon with
``run --once`` and reads the store:

1. ``--runs`` runs of one CPU-bound notebook (``--seconds`` of pure-Python work each) on 1 worker,
   then on 2 workers: the ratio of the two wall times (target >= 1.8x on 2 cores);
2. ``--runs`` runs of a trivial notebook on Dask (forked kernels, the default, and
   ``kernel_start = "spawn"``) and on the local executor (warm kernels, and ``warm_kernels = 0``
   which starts a kernel per notebook as a Dask worker does): per-notebook time, from the step's
   start to its end as the daemon recorded them, and Dask's overhead. Issue 20's target: Dask
   with forked kernels at most +0.05 s per notebook against warm local kernels. A Dask worker's
   first notebook is spawned (its template is still importing), so the figures are medians.

``--skip-speedup`` measures part 2 only.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "dask")]

from dask_cluster import DaskCluster  # noqa: E402
from notebooks import write_notebook  # noqa: E402

CPU = """\
import time
deadline = time.process_time() + seconds
n = 0
while time.process_time() < deadline:
    n += sum(i * i for i in range(1000))
"""
TRIVIAL = "x = 1 + 1"


def _project(folder: Path, cell: str, runs: int, execution: str, parallel: int) -> Path:
    write_notebook(folder / "notebooks" / "nb.ipynb", 'reference_date = ""\nseconds = 1.0', cell)
    (folder / "var" / "inbox").mkdir(parents=True)
    for day in range(1, runs + 1):
        (folder / "var" / "inbox" / f"calls_2026-11-{day:02d}.ready").touch()
    config = folder / "autoflow.toml"
    config.write_text(
        f"""
[paths]
notebooks = "notebooks"
inbox = "var/inbox"
outbox = "var/outbox"
work = "var/work"
state = "sqlite:///var/state/bench.db"
[execution]
max_parallel_runs = {parallel}
{execution}
[inbox]
settle = "0s"
[[workflow]]
name = "bench"
datasets = ["calls"]
parameters = {{ seconds = {SECONDS} }}
  [[workflow.notebook]]
  name = "nb"
  path = "nb.ipynb"
"""
    )
    return config


def _run_once(config: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "autoflow_watch", "run", "--once", "--config", str(config)],
        check=True,
        stderr=(config.parent / "daemon.log").open("wb"),
    )
    return time.monotonic() - started


def _step_times(config: Path) -> list[float]:
    with sqlite3.connect(config.parent / "var" / "state" / "bench.db") as conn:
        rows = conn.execute("SELECT finished_at - started_at FROM steps WHERE state = 'succeeded'").fetchall()
    return [row[0] for row in rows]


def _span(config: Path) -> float:
    """First notebook's start to last notebook's end: the cluster's work, without the daemon's start-up."""
    with sqlite3.connect(config.parent / "var" / "state" / "bench.db") as conn:
        first, last = conn.execute("SELECT min(started_at), max(finished_at) FROM steps").fetchone()
    return float(last - first)


def _dask(address: str, kernel_start: str = "fork") -> str:
    return f'backend = "dask"\ndask_scheduler = "{address}"\ndask_insecure = true\nkernel_start = "{kernel_start}"'


def _speedup(cluster: DaskCluster, root: Path, runs: int, seconds: float) -> None:
    """Part 1: CPU-bound notebooks on one worker, then on two."""
    one_config = _project(root / "one", CPU, runs, _dask(cluster.address), 2)
    one_wall, one = _run_once(one_config), _span(one_config)
    cluster.start_worker()
    cluster.wait_workers(2)
    two_config = _project(root / "two", CPU, runs, _dask(cluster.address), 2)
    two_wall, two = _run_once(two_config), _span(two_config)
    print(f"CPU-bound: {runs} runs x {seconds:g}s of work")
    print(f"  first notebook start to last end: 1 worker {one:.1f}s, 2 workers {two:.1f}s")
    print(f"  speed-up {one / two:.2f}x (target >= 1.8x); wall time of run --once {one_wall / two_wall:.2f}x")


def main() -> None:
    global SECONDS
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--skip-speedup", action="store_true", help="only the per-notebook overhead (part 2)")
    parser.add_argument("--keep", action="store_true", help="keep the projects (daemon.log, the store) to look at")
    args = parser.parse_args()
    SECONDS = args.seconds
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) if not args.keep else Path(tempfile.mkdtemp(prefix="bench-dask-"))
        cluster = DaskCluster(root / "cluster")
        try:
            cluster.start_scheduler()
            cluster.start_worker()
            cluster.wait_workers(1)
            if not args.skip_speedup:
                _speedup(cluster, root, args.runs, args.seconds)
            SECONDS = 0.0
            dask_config = _project(root / "dask", TRIVIAL, args.runs, _dask(cluster.address), 1)
            _run_once(dask_config)
            dask = statistics.median(_step_times(dask_config))
            spawn_config = _project(root / "dask-spawn", TRIVIAL, args.runs, _dask(cluster.address, "spawn"), 1)
            _run_once(spawn_config)
            dask_spawn = statistics.median(_step_times(spawn_config))
        finally:
            cluster.stop()
        local_config = _project(root / "local", TRIVIAL, args.runs, "", 1)
        _run_once(local_config)
        local = statistics.median(_step_times(local_config))
        cold_config = _project(root / "cold", TRIVIAL, args.runs, "warm_kernels = 0", 1)
        _run_once(cold_config)
        cold = statistics.median(_step_times(cold_config))
    print(f"Trivial notebook, median per notebook over {args.runs} runs (step start to end, as recorded):")
    print(f"  local, warm kernels: {local:.3f}s   local, warm_kernels = 0: {cold:.3f}s")
    print(f"  dask, forked kernels: {dask:.3f}s   dask, kernel_start = spawn: {dask_spawn:.3f}s")
    print(f"  dask (fork) overhead: {dask - local:+.3f}s vs warm local (target <= +0.05s, issue 20),")
    print(f"    {dask - cold:+.3f}s vs a kernel started per notebook; dask fork / spawn {dask / dask_spawn:.3f}")


SECONDS = 3.0

if __name__ == "__main__":
    main()
