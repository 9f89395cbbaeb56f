"""Marker -> manifest latency, and per-notebook time against raw papermill in one process.

Run by hand: ``.venv/bin/python bench/bench_pipeline.py [--repeat 3]``. Prints seconds and the
ratio of autoflow-watch's per-notebook time (worker process, kernel start, parameters, scrapbook)
to ``papermill.execute_notebook`` of the same notebook, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import papermill as pm

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "examples" / "notebooks"
sys.path.insert(0, str(REPO / "tests"))
from project_files import two_notebooks_toml  # noqa: E402  (the tests' helpers)

REFERENCE = "2026-11-24"
DAYS = [f"2026-11-{d}" for d in range(18, 25)]
RANGES = [["2026-11-18", "2026-11-25"]]

CONFIG = """
[paths]
notebooks = "{notebooks}"
inbox = "var/inbox"
outbox = "var/outbox"
work = "var/work"
state = "sqlite:///var/state/bench.db"
[inbox]
settle = "0.2s"
[[workflow]]
name = "daily-report"
datasets = ["calls"]
date_stencil = [[-6, 1]]
parameters = {{ region = "admin2" }}
"""


def raw_papermill(tmp: Path) -> dict[str, float]:
    """Both notebooks with papermill alone, in this process, as an analyst would run them."""
    timings = {}
    params = {
        "reference_date": REFERENCE,
        "date_ranges": RANGES,
        "workflow_name": "daily-report",
        "run_id": "bench",
        "region": "admin2",
    }
    started = time.perf_counter()
    pm.execute_notebook(
        str(NOTEBOOKS / "aggregate.ipynb"),
        str(tmp / "aggregate.ipynb"),
        parameters=params,
        progress_bar=False,
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
    )
    timings["aggregate"] = time.perf_counter() - started
    started = time.perf_counter()
    report_params = {k: v for k, v in params.items() if k != "run_id"} | {"aggregate": str(tmp / "aggregate.ipynb")}
    pm.execute_notebook(
        str(NOTEBOOKS / "report.ipynb"),
        str(tmp / "report.ipynb"),
        parameters=report_params,
        progress_bar=False,
        cwd=str(NOTEBOOKS),
        kernel_name="python3",
    )
    timings["report"] = time.perf_counter() - started
    return timings


def autoflow_run(tmp: Path) -> tuple[float, dict[str, float]]:
    """Start the daemon, drop the week's markers, time until the manifest appears."""
    config = tmp / "bench.toml"
    config.write_text(CONFIG.format(notebooks=NOTEBOOKS) + two_notebooks_toml(), encoding="utf-8")
    log = (tmp / "daemon.log").open("wb")
    daemon = subprocess.Popen([sys.executable, "-m", "autoflow_watch", "run", "--config", str(config)], stderr=log)
    try:
        _wait(lambda: (tmp / "var" / "inbox").is_dir() and b"daemon.ready" in (tmp / "daemon.log").read_bytes(), 60)
        started = time.perf_counter()
        for day in DAYS:
            (tmp / "var" / "inbox" / f"calls_{day}.ready").touch()
        manifest = tmp / "var" / "outbox" / "daily-report" / REFERENCE / "manifest.json"
        _wait(manifest.exists, 300)
        latency = time.perf_counter() - started
    finally:
        daemon.terminate()
        daemon.wait(60)
        log.close()
    notebooks = json.loads(manifest.read_text())["notebooks"]
    return latency, {nb["name"]: nb["duration_s"] for nb in notebooks}


def _wait(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    raw: dict[str, list[float]] = {"aggregate": [], "report": []}
    ours: dict[str, list[float]] = {"aggregate": [], "report": []}
    latencies = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as folder:
            for name, seconds in raw_papermill(Path(folder)).items():
                raw[name].append(seconds)
        with tempfile.TemporaryDirectory() as folder:
            latency, per_notebook = autoflow_run(Path(folder))
            latencies.append(latency)
            for name, seconds in per_notebook.items():
                ours[name].append(seconds)
    print(
        f"marker -> manifest (7 markers, 2 notebooks, HTML+PDF): median {statistics.median(latencies):.2f}s "
        f"over {args.repeat} runs {[round(x, 2) for x in latencies]}"
    )
    for name in raw:
        r, o = statistics.median(raw[name]), statistics.median(ours[name])
        print(f"{name:<10} raw papermill {r:.2f}s  autoflow-watch {o:.2f}s  ratio {o / r:.2f}")


if __name__ == "__main__":
    main()
