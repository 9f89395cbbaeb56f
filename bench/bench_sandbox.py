"""The sandbox's cost: sealed kernels against ``sandbox = "off"``, measured side by side in one run.

Run by hand: ``.venv/bin/python bench/bench_sandbox.py [--kernels 20] [--notebooks 5]``. Prints:

- kernel start -> first cell answered, on demand (the kernel is started now) and warm (it was
  pre-started and is ready: what the notebook waits for once it takes it), ``--kernels`` each,
  sealed and off, interleaved; median, p90 and the sealed - off difference of medians
  (target: <= 5 ms);
- a matplotlib notebook (figure rendered inline) executed by papermill in a fresh kernel, sealed
  and off, interleaved, ``--notebooks`` each: median run time and the ratio (target: within 5 %);
- the first sealed kernel's matplotlib import with and without the font list copied in.

Kernels come from :class:`WarmKernels`, the worker's own code path, in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill as pm
from jupyter_core.utils import run_sync
from nbformat.v4 import new_code_cell, new_notebook

from autoflow_watch.executor.job import KernelProfile, SandboxSpec
from autoflow_watch.executor.warm_kernels import WarmKernels

MATPLOTLIB = """\
import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 10, 2000)
for k in range(6):
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(x, np.sin(x * k))
    plt.show()
"""


def first_cell(kernels: WarmKernels, profile: KernelProfile, warm: bool) -> float:
    """Seconds from taking a kernel to the answer of its first cell."""
    if warm:
        kernels.fill([profile], None)
        kernel = kernels.idle[0]
        kernels._readied(kernel)  # ready before the clock starts: what a warm take finds
    started = time.perf_counter()
    kernel, _ = kernels.take(profile, None)
    client = kernel.manager.client()
    client.start_channels()
    run_sync(client.wait_for_ready)(timeout=120)
    run_sync(client.execute_interactive)("1 + 1", timeout=120, output_hook=lambda message: None)
    took = time.perf_counter() - started
    client.stop_channels()
    kernels.discard(kernel, now=True)
    kernels.reap()
    return took


def notebook_run(kernels: WarmKernels, profile: KernelProfile, notebook: Path, out: Path) -> float:
    kernel, _ = kernels.take(profile, None)
    started = time.perf_counter()
    pm.execute_notebook(
        str(notebook), str(out), kernel_name="python3", progress_bar=False, log_output=False, km=kernel.manager
    )
    took = time.perf_counter() - started
    kernels.discard(kernel, now=True)
    kernels.reap()
    return took


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"median {statistics.median(values) * 1000:7.1f} ms  p90 {p90 * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kernels", type=int, default=20)
    parser.add_argument("--notebooks", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    (folder / "notebooks").mkdir()
    notebook = folder / "notebooks" / "plot.ipynb"
    nb = new_notebook(cells=[new_code_cell(MATPLOTLIB)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(notebook))
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    kernels = WarmKernels(1, env, folder, lambda pid: None, lambda pid: None)
    profiles = {
        "sealed": KernelProfile("python3", str(folder / "notebooks"), False, SandboxSpec(deny=(str(Path.home()),))),
        "off": KernelProfile("python3", str(folder / "notebooks"), False, SandboxSpec(mode="off")),
    }
    try:
        print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} (shared: figures are noisy)")
        # the first sealed kernel starts the font list's build; wait for it, as a worker's later kernels would
        notebook_run(kernels, profiles["sealed"], notebook, folder / "warmup.ipynb")
        for build in kernels._fonts.builds.values() if kernels._fonts else []:
            build.wait()
        for mode in ("on demand", "warm") if args.kernels else ():
            times: dict[str, list[float]] = {"sealed": [], "off": []}
            for _ in range(args.kernels):
                for name, profile in profiles.items():
                    times[name].append(first_cell(kernels, profile, mode == "warm"))
            difference = (statistics.median(times["sealed"]) - statistics.median(times["off"])) * 1000
            print(
                f"kernel start -> first cell, {mode:9}: sealed {summary(times['sealed'])} | off {summary(times['off'])}"
                f" | sealed - off {difference:+.1f} ms (target <= 5 ms)"
            )
        runs: dict[str, list[float]] = {"sealed": [], "off": []}
        for index in range(args.notebooks):
            for name, profile in profiles.items():
                runs[name].append(notebook_run(kernels, profile, notebook, folder / f"{name}-{index}.ipynb"))
        ratio = statistics.median(runs["sealed"]) / statistics.median(runs["off"])
        print(
            f"matplotlib notebook: sealed {summary(runs['sealed'])} | off {summary(runs['off'])}"
            f" | sealed / off {ratio:.3f} (target within 5 %)"
        )
    finally:
        kernels.close()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
