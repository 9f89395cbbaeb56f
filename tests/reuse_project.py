"""A three-notebook workflow (extract -> transform -> report) whose notebooks write a ledger of their executions.

Each notebook appends ``<notebook> <run_id>`` to ``ledger/ledger.txt`` (a folder granted with
``write_paths``, so sealed kernels may write it); the report raises while ``ledger/fail`` exists.
Used by the reuse tests (docs/reuse.md) and ``bench/bench_reuse.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

from daemon_process import cli
from notebooks import write_notebook
from project_files import FAST_EXECUTION_TOML, PATHS_TOML

DAY = "2026-11-24"

EXTRACT = """\
import time, scrapbook as sb
with open(f"{ledger}/ledger.txt", "a") as f:
    f.write(f"extract {run_id}\\n")
time.sleep(sleep_s)
sb.glue("rows", 10 + len(date_ranges))
"""

TRANSFORM = """\
import pathlib, scrapbook as sb
with open(f"{ledger}/ledger.txt", "a") as f:
    f.write(f"transform {run_id}\\n")
rows = sb.read_notebook(extract).scraps["rows"].data
pathlib.Path(extract).with_name("transform.csv").write_text(f"rows,{rows * scale}\\n")
sb.glue("scaled", rows * scale)
"""

REPORT = """\
import os, scrapbook as sb
from IPython.display import Markdown, display
with open(f"{ledger}/ledger.txt", "a") as f:
    f.write(f"report {run_id}\\n")
if os.path.exists(f"{ledger}/fail"):
    raise RuntimeError("the report fails on purpose while the flag file is there")
scaled = sb.read_notebook(transform).scraps["scaled"].data
display(Markdown(f"**{scaled}** rows for {reference_date}"))
"""


def reuse_project(
    folder: Path, *, workflow: str = "", state: str | None = None, scale: int = 2, sleep_s: float = 0
) -> Path:
    """Write the notebooks and config of workflow ``three`` into ``folder``; returns the config path."""
    notebooks = folder / "notebooks"
    ledger = folder / "ledger"
    ledger.mkdir(parents=True, exist_ok=True)
    write_notebook(
        notebooks / "extract.ipynb",
        'reference_date = ""\ndate_ranges = []\nrun_id = ""\nledger = ""\nsleep_s = 0',
        EXTRACT,
    )
    write_notebook(notebooks / "transform.ipynb", 'run_id = ""\nledger = ""\nextract = None\nscale = 1', TRANSFORM)
    write_notebook(
        notebooks / "report.ipynb", 'reference_date = ""\nrun_id = ""\nledger = ""\ntransform = None', REPORT
    )
    (folder / "var" / "inbox").mkdir(parents=True, exist_ok=True)
    return write_reuse_config(folder, workflow=workflow, state=state, scale=scale, sleep_s=sleep_s)


def write_reuse_config(
    folder: Path, *, workflow: str = "", state: str | None = None, scale: int = 2, sleep_s: float = 0
) -> Path:
    paths = PATHS_TOML if state is None else PATHS_TOML.replace("sqlite:///var/state/autoflow.db", state)
    config = folder / "autoflow.toml"
    config.write_text(
        f"""
{paths}
{FAST_EXECUTION_TOML}
[inbox]
settle = "0.2s"
rescan_interval = "2s"

[[workflow]]
name = "three"
datasets = ["calls"]
write_paths = ["ledger"]
parameters = {{ ledger = "{folder / "ledger"}", scale = {scale}, sleep_s = {sleep_s} }}
{workflow}

  [[workflow.notebook]]
  name = "extract"
  path = "extract.ipynb"

  [[workflow.notebook]]
  name = "transform"
  path = "transform.ipynb"
  upstream = ["extract"]

  [[workflow.notebook]]
  name = "report"
  path = "report.ipynb"
  upstream = ["transform"]
  report = {{ formats = ["html"] }}
""",
        encoding="utf-8",
    )
    return config


def set_failing(config: Path, failing: bool) -> None:
    flag = config.parent / "ledger" / "fail"
    if failing:
        flag.touch()
    else:
        flag.unlink(missing_ok=True)


def executed_by(config: Path, run_id: str) -> set[str]:
    """The notebooks attempt ``run_id`` sent to a kernel, from the ledger they write."""
    ledger = config.parent / "ledger" / "ledger.txt"
    lines = ledger.read_text().splitlines() if ledger.exists() else []
    return {name for name, rid in (line.split() for line in lines) if rid == run_id}


def manifest(config: Path, day: str = DAY) -> dict:
    return json.loads((config.parent / "var" / "outbox" / "three" / day / "manifest.json").read_text())


def reused_from(config: Path, day: str = DAY) -> dict[str, str | None]:
    return {nb["name"]: nb["reused_from"] for nb in manifest(config, day)["notebooks"]}


def drop_marker(config: Path, day: str = DAY, content: str = "") -> None:
    (config.parent / "var" / "inbox" / f"calls_{day}.ready").write_text(content, encoding="utf-8")


def run_status(config: Path) -> dict:
    """``status --json`` of the workflow's one run."""
    [run] = json.loads(cli(config, "status", "--json").stdout)
    return run
