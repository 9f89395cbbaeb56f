"""How long the outbox's pages take to rebuild for a workflow with 3,650 dates (ten years of daily reports).

Run by hand: ``.venv/bin/python bench/bench_portal.py [--dates 3650] [--others 20]``. It makes a
SQLite store (in a temporary folder) with one workflow of ``--dates`` succeeded runs, a failed
attempt every 30th date, two scalar scraps per date, and ``--others`` small workflows of 30 dates
beside it; every date has its report folder on disk (manifest, HTML, PDF) and every failed
attempt its ``_failed/`` folder. Inserted directly: no notebook runs.

Timed (best of ``--repeat``): rebuilding the big workflow's pages (history, feed, index.json:
what happens after one of its runs), rebuilding the overview (index.html and index.json from every
workflow's document), and the two together as the daemon does after a run. The reference, measured
in the same run: the raw tools alone, the store's three queries for that workflow and one
``scandir`` of each of its folders, which no rebuild can skip. Budget (DESIGN.md): under a second
for the workflow's pages and the overview.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "publish"))

from portal_store import RunRow, insert_runs  # noqa: E402

from autoflow_watch.logs import configure  # noqa: E402
from autoflow_watch.publish.portal import rebuild_overview, rebuild_workflow, refresh_pages  # noqa: E402
from autoflow_watch.store import Store  # noqa: E402

BIG = "daily-indicators"
START = dt.date(2016, 1, 1)


def _report(folder: Path, day: str, run_id: str) -> None:
    folder.mkdir(parents=True)
    (folder / "report.html").write_text(f"<p>{day}</p>", encoding="utf-8")
    (folder / "report.pdf").write_bytes(b"%PDF-1.7 stand-in")
    manifest = {"workflow": folder.parent.name, "reference_date": day, "run_id": run_id, "outputs": []}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def fill(outbox: Path, store: Store, workflow: str, dates: int) -> None:
    rows, now = [], time.time()
    for n in range(dates):
        day = (START + dt.timedelta(days=n)).isoformat()
        failed = [f"{workflow}-{day}-a1"] if n % 30 == 0 else []
        run_id = f"{workflow}-{day}-a{1 + len(failed)}"
        finished = now - (dates - n) * 86400.0
        scraps = {"report": {"calls": 4_000_000 + 997 * n, "coverage": 0.8 + (n % 100) / 1000}}
        attempts = 1 + len(failed)
        rows.append(RunRow(workflow, day, "succeeded", attempts, run_id, finished - 95, finished, None, failed, scraps))
        _report(outbox / workflow / day, day, run_id)
        for attempt in failed:
            folder = outbox / "_failed" / workflow / day / attempt
            folder.mkdir(parents=True)
            for name in ("index.html", "report.html", "report.ipynb", "error.txt"):
                (folder / name).write_text("x", encoding="utf-8")
    insert_runs(store, rows)


def best(repeat: int, action: Callable[[], object]) -> tuple[float, float]:
    """The best wall-clock and CPU seconds of ``repeat`` runs (CPU: what a loaded machine cannot inflate)."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def show(label: str, measured: tuple[float, float], floor: tuple[float, float] | None = None) -> str:
    wall, cpu = measured
    ratio = f"  ({wall / floor[0]:.1f}x the floor)" if floor else ""
    return f"  {label:<48}{wall * 1000:7.0f} ms wall {cpu * 1000:7.0f} ms CPU{ratio}"


def raw_floor(outbox: Path, store: Store) -> None:
    """What any rebuild must do: the workflow's three queries and one listing of each of its folders."""
    portal = store.runs.portal
    portal.version(BIG)
    portal.history(BIG)
    for root in (outbox / BIG, outbox / "_failed" / BIG):
        with os.scandir(root) as days:
            for day in days:
                if day.is_dir():
                    with os.scandir(day.path) as inside:
                        list(inside)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dates", type=int, default=3650)
    parser.add_argument("--others", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    configure(level="warning", json_lines=False)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        outbox = root / "outbox"
        store = Store(f"sqlite:///{root}/state.db")
        fill(outbox, store, BIG, args.dates)
        others = [f"weekly-{n:02d}" for n in range(args.others)]
        for name in others:
            fill(outbox, store, name, 30)
        configured = [BIG, *others]
        refresh_pages(outbox, store.runs.portal, configured)  # every page once, as at start
        workflows = sorted(configured)
        floor = best(args.repeat, lambda: raw_floor(outbox, store))
        pages = best(args.repeat, lambda: rebuild_workflow(outbox, store.runs.portal, BIG))
        overview = best(args.repeat, lambda: rebuild_overview(outbox, store.runs.portal, workflows))
        after_run = best(args.repeat, lambda: refresh_pages(outbox, store.runs.portal, configured, [BIG]))
        sizes = {p: (outbox / p).stat().st_size for p in (f"{BIG}/index.html", f"{BIG}/index.json", "index.html")}
        store.close()
    print(f"{args.dates} dates in {BIG}, {args.others} other workflows of 30 dates (best of {args.repeat})")
    print(f"  load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(show("raw floor (3 queries + scandir of its folders)", floor))
    print(show("its pages (history, feed, index.json)", pages, floor))
    print(show("the overview (index.html, index.json)", overview))
    print(show("after one of its runs (both, as the daemon)", after_run) + "  budget 1000 ms")
    print("  page sizes: " + ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in sizes.items()))


if __name__ == "__main__":
    main()
