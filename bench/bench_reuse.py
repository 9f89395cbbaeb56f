"""Time to the published report after a fix, with and without reuse (docs/reuse.md), in one run.

Run by hand: ``.venv/bin/python bench/bench_reuse.py [--sleep 20]``. Two copies of the same
three-notebook workflow (tests/reuse_project.py: extract -> transform -> report), whose first
notebook sleeps ``--sleep`` seconds (a FlowAPI query's stand-in) and whose report fails while a
flag file exists. For each copy: ``run --once`` (the report fails), the flag removed (the fix),
then ``rerun`` and ``run --once`` timed until the report is published. One copy has reuse on
(the default), the other ``reuse = false`` — what every release before this one did.
Printed: both times and their ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from reuse_project import DAY, drop_marker, executed_by, reuse_project, set_failing  # noqa: E402


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "autoflow_watch", args[0], "--config", str(config), *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=1800)


def after_the_fix(folder: Path, sleep_s: float, reuse: bool) -> tuple[float, set[str]]:
    """Seconds from ``rerun`` to the published report once the report is fixed; what the rerun executed."""
    config = reuse_project(folder, sleep_s=sleep_s, workflow="" if reuse else "reuse = false")
    set_failing(config, True)
    drop_marker(config)
    if cli(config, "run", "--once").returncode != 1:
        raise SystemExit("the first attempt should have failed in the report")
    set_failing(config, False)
    started = time.monotonic()
    if cli(config, "rerun", "three", DAY).returncode != 0:
        raise SystemExit("rerun failed")
    done = cli(config, "run", "--once")
    took = time.monotonic() - started
    manifest = folder / "var" / "outbox" / "three" / DAY / "manifest.json"
    if done.returncode != 0 or not manifest.exists():
        raise SystemExit(f"the rerun did not publish:\n{done.stderr[-2000:]}")
    run_id = json.loads(manifest.read_text())["run_id"]
    return took, executed_by(config, run_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sleep", type=float, default=20.0, help="seconds the first notebook sleeps")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reuse-") as tmp:
        with_reuse, ran_with = after_the_fix(Path(tmp) / "reuse", args.sleep, reuse=True)
        without, ran_without = after_the_fix(Path(tmp) / "fresh", args.sleep, reuse=False)
    print(f"first notebook sleeps {args.sleep:g} s; time from rerun to the published report after the fix:")
    print(f"  with reuse      {with_reuse:7.2f} s   executed: {', '.join(sorted(ran_with))}")
    print(f"  reuse = false   {without:7.2f} s   executed: {', '.join(sorted(ran_without))}")
    print(f"  ratio (without / with): {without / with_reuse:.2f}x")


if __name__ == "__main__":
    main()
