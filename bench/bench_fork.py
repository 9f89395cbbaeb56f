"""THE issue-20 kernel benchmark: kernel ready -> first cell, CPU-s per kernel start (template up), fork vs spawn.

This is the benchmark the issue names as ``bench/bench_warm.py``'s kernel part (``bench_warm.py``
itself drives the whole daemon from a marker and cannot separate a kernel's start). Targets: a
forked kernel answers its first cell <= 20 ms after it is asked for, for <= 0.05 CPU-s, with the
template up; worker and template RSS after ``--runs`` kernels within 20 % of after 10.

Run by hand: ``.venv/bin/python bench/bench_fork.py [--kernels 20] [--runs 200] [--preload numpy]``.
This process plays the worker (the same ``WarmKernels`` the worker uses, sealed kernels, one at a
time, ``warm_kernels = 0`` so each start is on the critical path). Prints, for fork and spawn
measured interleaved in the same run (spawn is the raw tool: jupyter_client starting
``python -m ipykernel_launcher`` through the same sandbox launcher):

- asked for a kernel -> its first cell's reply (median, p90);
- CPU-s per kernel start: the kernel's own CPU at its first reply + this process's + the
  template's (median of each kernel's, and the mean: total over all kernels / their number, since
  /proc counts CPU in 10 ms ticks);
- fork / spawn ratios of both;
- this process's and the template's RSS after 10 and after ``--runs`` forked kernels.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jupyter_core.utils import run_sync

from autoflow_watch.executor.job import KernelProfile, SandboxSpec
from autoflow_watch.executor.kernel_template import KernelTemplates
from autoflow_watch.executor.warm_kernels import WarmKernels

TICK = os.sysconf("SC_CLK_TCK")
PARTS: dict[bool, list[tuple[float, ...]]] = {}  # forked? -> (kernel, this process, template) CPU-s per kernel


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError):
        return 0.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_kernel(kernels: WarmKernels, profile: KernelProfile) -> tuple[float, float]:
    """(seconds from asking to the first cell's reply, CPU-s spent on it by kernel, us and the template)."""
    templates = kernels.templates
    template_pids = templates.pids() if templates else []
    before = os.times()
    before_template = sum(cpu_s(p) for p in template_pids)
    started = time.perf_counter()
    kernel, _ = kernels.take(profile, None)
    client = kernel.manager.client()
    client.start_channels()  # no wait_for_ready (it drains IOPub for 0.2 s): the request waits in zmq
    client.execute("x = 1")  # its reply on the shell channel: IOPub may not be subscribed yet
    reply = run_sync(client.get_shell_msg)(timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    elapsed = time.perf_counter() - started
    after = os.times()
    template_pids = templates.pids() if templates else []
    parts = (
        cpu_s(kernel.pid),
        after.user + after.system - before.user - before.system,
        sum(cpu_s(p) for p in template_pids) - before_template,
    )
    PARTS.setdefault(bool(templates), []).append(parts)
    cpu = sum(parts)
    client.stop_channels()
    kernels.discard(kernel, now=True)
    kernels.reap()
    return elapsed, cpu


def summary(values: list[float]) -> str:
    values = sorted(values)
    return f"median {statistics.median(values) * 1000:.1f}, p90 {values[int(len(values) * 0.9) - 1] * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernels", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--preload", action="append", default=[])
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="afw-bench-fork-"))
    env = {k: v for k, v in os.environ.items() if k != "FLOWAPI_TOKEN"}
    profile = KernelProfile("python3", str(folder), False, SandboxSpec())
    fork = WarmKernels(0, env, folder, lambda p: None, lambda p: None)
    fork.templates = KernelTemplates(args.preload, env, folder / "templates")
    spawn = WarmKernels(0, env, folder, lambda p: None, lambda p: None)
    one_kernel(fork, profile)  # a template's first kernel is spawned beside it (it is still importing)
    for started in fork.templates.templates.values():
        started.wait_ready()  # the template is up (and the font list built) before measuring
    one_kernel(fork, profile)
    one_kernel(spawn, profile)
    PARTS.clear()
    times: dict[str, list[float]] = {"fork": [], "spawn": []}
    cpus: dict[str, list[float]] = {"fork": [], "spawn": []}
    for _ in range(args.kernels):
        for name, kernels in (("fork", fork), ("spawn", spawn)):
            elapsed, cpu = one_kernel(kernels, profile)
            times[name].append(elapsed)
            cpus[name].append(cpu)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.kernels} kernels each")
    for name in ("fork", "spawn"):
        mean_cpu = sum(cpus[name]) / len(cpus[name]) * 1000
        print(f"{name:5}: asked -> first cell reply ms {summary(times[name])}; CPU ms per kernel {summary(cpus[name])}")
        print(f"       CPU ms per kernel, mean {mean_cpu:.1f}")
    ratio = statistics.median(times["fork"]) / statistics.median(times["spawn"])
    cpu_ratio = sum(cpus["fork"]) / sum(cpus["spawn"])
    for forked, name in ((True, "fork"), (False, "spawn")):
        kernel, worker, template = (sum(column) / len(column) * 1000 for column in zip(*PARTS[forked], strict=True))
        print(f"{name:5}: CPU ms mean, kernel {kernel:.1f} + worker {worker:.1f} + template {template:.1f}")
    print(f"fork / spawn: time (medians) {ratio:.3f}, CPU (means) {cpu_ratio:.3f}")
    spawn.close()
    rss: dict[int, tuple[float, float]] = {}
    assert fork.templates is not None
    for n in range(1, args.runs + 1):
        one_kernel(fork, profile)
        if n in (10, args.runs):
            template = fork.templates.pids()[0]
            rss[n] = (rss_mb(os.getpid()), rss_mb(template))
    (w10, t10), (wn, tn) = rss[10], rss[args.runs]
    print(f"RSS after 10 / {args.runs} forked kernels: worker {w10:.1f} / {wn:.1f} MB ({wn / w10:.3f}),")
    print(f"  template {t10:.1f} / {tn:.1f} MB ({tn / t10:.3f}); target within 20 %")
    fork.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
