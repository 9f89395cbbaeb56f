"""Shared fixtures: a project folder with a config and real notebooks, and the real daemon."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from notebooks import write_notebook  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def requires_services() -> bool:
    """In scripts/test.sh every service must be there: a missing one fails instead of skipping."""
    return os.environ.get("AUTOFLOW_TEST_REQUIRE_SERVICES") == "1"


AGGREGATE = """\
import scrapbook as sb
total = 40 + len(date_ranges)
sb.glue("total", total)
print("aggregated", reference_date, date_ranges, region)
"""

REPORT = """\
import scrapbook as sb
from IPython.display import Markdown, display
total = sb.read_notebook(aggregate).scraps["total"].data
display(Markdown(f"The total for **{reference_date}** is **{total * 1000}** calls."))
import matplotlib.pyplot as plt
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(["a", "b"], [total, total / 2])
ax.set_title("Calls chart")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A two-notebook workflow (aggregate -> report) with short timings, ready to run."""
    notebooks = tmp_path / "notebooks"
    write_notebook(notebooks / "aggregate.ipynb", 'reference_date = ""\ndate_ranges = []\nregion = "x"', AGGREGATE)
    write_notebook(notebooks / "report.ipynb", 'reference_date = ""\naggregate = None\nrun_id = ""', REPORT,
                   title="# Calls report")
    write_config(tmp_path)
    return tmp_path


def write_config(folder: Path, *, extra: str = "", workflow_extra: str = "", stencil: str = "[[-1, 1]]",
                 report_formats: str = '["html", "pdf"]') -> Path:
    config = folder / "autoflow.toml"
    config.write_text(
        f"""
[paths]
notebooks = "notebooks"
inbox = "var/inbox"
outbox = "var/outbox"
work = "var/work"
state = "sqlite:///var/state/autoflow.db"

[execution]
max_parallel_runs = 2
cell_timeout = "60s"
run_timeout = "5m"
max_attempts = 2
retry_backoff = "1s"
shutdown_grace = "5s"
lease_renew_interval = "1s"
lease_timeout = "4s"

[inbox]
settle = "0.3s"
rescan_interval = "2s"
{extra}

[[workflow]]
name = "daily"
datasets = ["calls"]
date_stencil = {stencil}
parameters = {{ region = "admin2" }}
{workflow_extra}

  [[workflow.notebook]]
  name = "aggregate"
  path = "aggregate.ipynb"

  [[workflow.notebook]]
  name = "report"
  path = "report.ipynb"
  upstream = ["aggregate"]
  report = {{ formats = {report_formats} }}
""",
        encoding="utf-8",
    )
    return config
