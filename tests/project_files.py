"""A small two-notebook project (aggregate -> report) for tests: notebooks and config."""

from __future__ import annotations

from pathlib import Path

from notebooks import write_notebook

AGGREGATE = """\
import scrapbook as sb
total = 40 + len(date_ranges)
sb.glue("total", total)
print("aggregated", reference_date, date_ranges, region)
"""

# The folders every test project uses, relative to its config file.
PATHS_TOML = """\
[paths]
notebooks = "notebooks"
inbox = "var/inbox"
outbox = "var/outbox"
work = "var/work"
state = "sqlite:///var/state/autoflow.db"
"""

# Execution settings short enough for tests: quick retries, leases and shutdown.
FAST_EXECUTION_TOML = """\
[execution]
max_parallel_runs = 2
cell_timeout = "60s"
run_timeout = "5m"
max_attempts = 2
retry_backoff = "1s"
shutdown_grace = "5s"
lease_renew_interval = "1s"
lease_timeout = "4s"
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


def make_project(folder: Path) -> Path:
    """Write the notebooks and config of the two-notebook workflow ``daily`` into ``folder``."""
    notebooks = folder / "notebooks"
    write_notebook(notebooks / "aggregate.ipynb", 'reference_date = ""\ndate_ranges = []\nregion = "x"', AGGREGATE)
    write_notebook(
        notebooks / "report.ipynb", 'reference_date = ""\naggregate = None\nrun_id = ""', REPORT, title="# Calls report"
    )
    write_config(folder)
    return folder


def two_notebooks_toml(report_formats: str | None = '["html", "pdf"]') -> str:
    """The ``[[workflow.notebook]]`` tables of aggregate -> report (``report_formats``: a TOML list; None: none)."""
    report = f"\n  report = {{ formats = {report_formats} }}" if report_formats else ""
    return f"""
  [[workflow.notebook]]
  name = "aggregate"
  path = "aggregate.ipynb"

  [[workflow.notebook]]
  name = "report"
  path = "report.ipynb"
  upstream = ["aggregate"]{report}
"""


def write_config(
    folder: Path,
    *,
    extra: str = "",
    workflow_extra: str = "",
    stencil: str = "[[-1, 1]]",
    report_formats: str = '["html", "pdf"]',
) -> Path:
    config = folder / "autoflow.toml"
    config.write_text(
        f"""
{PATHS_TOML}
{FAST_EXECUTION_TOML}
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
{two_notebooks_toml(report_formats)}""",
        encoding="utf-8",
    )
    return config


def one_notebook_config(folder: Path, execution: str, workflow_extra: str = "", name: str = "probe") -> Path:
    """``folder/autoflow.toml``: workflow ``name`` of the one notebook ``name.ipynb``, on dataset ``calls``.

    ``execution`` is the whole ``[execution]`` section (e.g. :data:`FAST_EXECUTION_TOML`, edited).
    """
    config = folder / "autoflow.toml"
    config.write_text(
        f"""
{PATHS_TOML}
{execution}
[inbox]
settle = "0.2s"
rescan_interval = "2s"

[[workflow]]
name = "{name}"
datasets = ["calls"]
{workflow_extra}

  [[workflow.notebook]]
  name = "{name}"
  path = "{name}.ipynb"
""",
        encoding="utf-8",
    )
    return config
