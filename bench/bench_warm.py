"""Warm workers and pre-started kernels: latency, memory and idle cost of the real daemon.

Run by hand: ``.venv/bin/python bench/bench_warm.py [--dates 20] [--runs 200]``. Prints:

- marker renamed into the inbox -> first cell of its notebook running, with ``warm_kernels = 1``
  and ``0`` (median and max over ``--dates`` runs, one at a time so a kernel can be ready),
  against a bare ``KernelManager.start_kernel`` + ``wait_for_ready`` measured in the same run;
- a worker's RSS after 10 and after ``--runs`` runs (it must stay within 20 %), and the pool's
  total RSS (daemon, workers, kernels);
- the idle daemon's own RSS and CPU share over 30 s, on the example config.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
FIRST_CELL = "import time, os\nopen(os.path.join(probe_dir, reference_date), 'w').write(repr(time.time()))"

CONFIG = """
[paths]
notebooks = "notebooks"
inbox = "var/inbox"
outbox = "var/outbox"
work = "var/work"
state = "sqlite:///var/state/bench.db"
[execution]
max_parallel_runs = 1
warm_kernels = {warm}
worker_max_runs = 100000
[inbox]
settle = "0.1s"
[[workflow]]
name = "probe"
datasets = ["calls"]
parameters = {{ probe_dir = "{probes}" }}
write_paths = ["{probes}"]  # the sandbox: the probes folder is outside what a notebook may write
  [[workflow.notebook]]
  name = "probe"
  path = "probe.ipynb"
"""


def project(folder: Path, warm: int) -> Path:
    nb = new_notebook()
    params = new_code_cell('reference_date = ""\nprobe_dir = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, new_code_cell(FIRST_CELL), new_code_cell("import os\nprint(os.getppid())")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (folder / "notebooks").mkdir(parents=True)
    nbformat.write(nb, str(folder / "notebooks" / "probe.ipynb"))
    (folder / "probes").mkdir()
    (folder / "var" / "inbox").mkdir(parents=True)
    config = folder / "autoflow.toml"
    config.write_text(CONFIG.format(warm=warm, probes=folder / "probes"), encoding="utf-8")
    return config


def start_daemon(config: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = config.parent / "daemon.log"
    cmd = [sys.executable, "-m", "autoflow_watch", "run", "--config", str(config)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    wait(lambda: b'"daemon.ready"' in log.read_bytes(), 120)
    return process, log


def wait(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.005)


def day(i: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(time.mktime((2026, 1, 1, 12, 0, 0, 0, 0, 0)) + i * 86400))


def drop_marker(config: Path, date: str) -> float:
    inbox = config.parent / "var" / "inbox"
    tmp = inbox / f".calls_{date}.ready.tmp"
    tmp.touch()
    renamed = time.time()
    os.rename(tmp, inbox / f"calls_{date}.ready")
    return renamed


def manifest(config: Path, date: str) -> Path:
    return config.parent / "var" / "outbox" / "probe" / date / "manifest.json"


def latencies(folder: Path, warm: int, dates: int) -> list[float]:
    config = project(folder, warm)
    process, _ = start_daemon(config)
    try:
        time.sleep(3)  # the pool's first kernels are up
        found = []
        for i in range(dates):
            date = day(i)
            renamed = drop_marker(config, date)
            wait(manifest(config, date).exists, 120)
            found.append(float((folder / "probes" / date).read_text()) - renamed)
            time.sleep(0.8)  # the next kernel's start-up has finished, as between real markers
    finally:
        process.terminate()
        process.wait(60)
    return found


def bare_kernel_start(times: int) -> list[float]:
    from jupyter_client import KernelManager

    found = []
    for _ in range(times):
        started = time.monotonic()
        km = KernelManager(kernel_name="python3")
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        found.append(time.monotonic() - started)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return found


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = [], [pid]
    while frontier:
        frontier = [c for c, p in parents.items() if p in frontier]
        found += frontier
    return found


def worker_memory(folder: Path, runs: int) -> dict[str, float]:
    config = project(folder, 1)
    process, _ = start_daemon(config)
    samples: dict[str, float] = {}
    try:
        for i in range(runs):
            drop_marker(config, day(i))
            wait(manifest(config, day(i)).exists, 120)
            if i + 1 in (10, runs):
                workers = [
                    p for p in tree(process.pid) if b"executor.worker" in Path(f"/proc/{p}/cmdline").read_bytes()
                ]
                samples[f"worker_after_{i + 1}"] = sum(rss_mb(p) for p in workers)
                samples[f"pool_total_after_{i + 1}"] = rss_mb(process.pid) + sum(rss_mb(p) for p in tree(process.pid))
    finally:
        process.terminate()
        process.wait(60)
    return samples


def idle_daemon() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config").mkdir()
        (Path(tmp) / "examples").symlink_to(REPO / "examples")  # the example config's own relative paths
        config = Path(tmp) / "config" / "example.toml"
        config.write_text((REPO / "config" / "example.toml").read_text())
        process, _ = start_daemon(config)
        try:
            time.sleep(10)
            before = _cpu_s(process.pid)
            time.sleep(30)
            cpu = (_cpu_s(process.pid) - before) / 30
            return {
                "daemon_rss_mb": rss_mb(process.pid),
                "daemon_cpu_share": cpu,
                "pool_rss_mb": sum(rss_mb(p) for p in tree(process.pid)),
            }
        finally:
            process.terminate()
            process.wait(60)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dates", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = bare_kernel_start(5)
        warm = latencies(Path(tmp) / "warm", 1, args.dates)
        cold = latencies(Path(tmp) / "cold", 0, args.dates)
        memory = worker_memory(Path(tmp) / "memory", args.runs)
    idle = idle_daemon()
    ms = lambda xs: f"median {statistics.median(xs) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms"  # noqa: E731
    print(f"bare kernel start + ready (jupyter_client):      {ms(bare)}")
    print(f"marker -> first cell, warm_kernels = 1:          {ms(warm)}")
    print(f"marker -> first cell, warm_kernels = 0:          {ms(cold)}")
    print(f"warm / bare kernel start (median):               {statistics.median(warm) / statistics.median(bare):.2f}")
    after10, after_n = memory["worker_after_10"], memory[f"worker_after_{args.runs}"]
    print(f"worker RSS after 10 runs: {after10:.0f} MB, after {args.runs}: {after_n:.0f} MB ({after_n / after10:.2f}x)")
    total = memory[f"pool_total_after_{args.runs}"]
    print(f"pool total RSS after {args.runs} runs (daemon, workers, kernels): {total:.0f} MB")
    print(
        f"idle daemon (example config): {idle['daemon_rss_mb']:.0f} MB RSS, CPU {idle['daemon_cpu_share'] * 100:.2f} %"
    )
    print(f"idle pool below it (workers and warm kernels): {idle['pool_rss_mb']:.0f} MB RSS")
    print(json.dumps({"bare": bare, "warm": warm, "cold": cold, **memory, **idle}))


if __name__ == "__main__":
    main()
