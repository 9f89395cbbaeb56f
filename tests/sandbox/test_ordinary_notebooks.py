"""Ordinary notebooks behave as before under the (default) sandbox; a blocked access fails with a line that says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_process import assert_no_kernels_left, cli
from fake_flowapi import FakeFlowApi
from notebooks import write_notebook
from project_files import PATHS_TOML, two_notebooks_toml

pytestmark = pytest.mark.e2e
DATE = "2026-11-24"

AGGREGATE = """\
import os, tempfile
import pandas as pd
import scrapbook as sb
from flowclient import connect, get_available_dates
frame = pd.read_csv(os.path.join(granted, "calls.csv"))
with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as scratch:
    frame.to_csv(scratch.name)
again = pd.read_csv(scratch.name)
conn = connect(url=flowapi_url, token=os.environ["FLOWAPI_TOKEN"])
dates = get_available_dates(connection=conn)
sb.glue("total", int(again["calls"].sum()))
sb.glue("flowapi_dates", len(dates["calls"]))
"""
REPORT = """\
import scrapbook as sb
import matplotlib.pyplot as plt
from IPython.display import Markdown, display
scraps = sb.read_notebook(aggregate).scraps
display(Markdown(f"The total is **{scraps['total'].data}**; FlowAPI lists {scraps['flowapi_dates'].data} date(s)."))
fig, ax = plt.subplots()
ax.bar(["a", "b"], [1, 2])
"""
NOSY = """\
open(secret).read()
"""
SCRIBBLER = """\
open("scribbled.txt", "w").write("next to the notebook")
"""


def write_project(root: Path, flowapi: FakeFlowApi) -> Path:
    (root / "granted").mkdir()
    (root / "granted" / "calls.csv").write_text("day,calls\n1,40\n2,2\n")
    (root / "home").mkdir()
    (root / "home" / "secret.txt").write_text("s3cret")
    (root / "token").write_text(flowapi.make_token())
    nbs = root / "notebooks"
    write_notebook(nbs / "aggregate.ipynb", 'granted = ""\nflowapi_url = ""', AGGREGATE)
    write_notebook(nbs / "report.ipynb", "aggregate = None", REPORT)
    write_notebook(nbs / "nosy.ipynb", 'secret = ""', NOSY)
    write_notebook(nbs / "scribbler.ipynb", "x = 1", SCRIBBLER)
    config = root / "autoflow.toml"
    config.write_text(
        f"""
{PATHS_TOML}

[execution]
max_parallel_runs = 2
max_attempts = 1
cell_timeout = "120s"

[flowapi]
url = "{flowapi.url}"
token_file = "token"

[[workflow]]
name = "daily"
datasets = ["calls"]
flowapi_token = true
read_paths = ["granted"]
parameters = {{ granted = "{root / "granted"}" }}
{two_notebooks_toml('["html"]')}
[[workflow]]
name = "nosy"
datasets = ["calls"]
parameters = {{ secret = "{root / "home" / "secret.txt"}" }}
  [[workflow.notebook]]
  name = "nosy"
  path = "nosy.ipynb"

[[workflow]]
name = "scribbler"
datasets = ["calls"]
  [[workflow.notebook]]
  name = "scribbler"
  path = "scribbler.ipynb"
""",
        encoding="utf-8",
    )
    return config


def error_text(root: Path, workflow: str) -> str:
    [found] = list((root / "var" / "outbox" / "_failed" / workflow / DATE).glob("*/error.txt"))
    return found.read_text(encoding="utf-8")


def test_ordinary_notebooks_run_sealed_and_blocked_ones_say_which_setting_grants(tmp_path):
    with FakeFlowApi({"calls": [DATE]}) as flowapi:
        config = write_project(tmp_path, flowapi)
        env = {"HOME": str(tmp_path / "home")}
        run = cli(config, "run", "--once", env=env)
    assert run.returncode == 1, run.stderr[-3000:]  # nosy and scribbler fail, daily succeeds
    assert "sandbox.enforced" in run.stderr
    status = {r["workflow"]: r for r in json.loads(cli(config, "status", "--json", env=env).stdout)}
    assert status["daily"]["state"] == "succeeded", status["daily"]
    html = (tmp_path / "var" / "outbox" / "daily" / DATE / "report.html").read_text(encoding="utf-8")
    assert "The total is <strong>42</strong>; FlowAPI lists 1 date(s)." in html
    assert 'src="data:image/png;base64,' in html, "the matplotlib figure is in the report"
    assert len(flowapi.requests) >= 2, "the daemon polled, and the notebook asked, with the token"

    nosy = error_text(tmp_path, "nosy")
    assert "PermissionError" in nosy
    assert f"the notebook sandbox blocked access to {tmp_path / 'home' / 'secret.txt'}" in nosy
    assert "read_paths" in nosy and "nosy" in status and "sandbox blocked" in status["nosy"]["error"]
    scribbler = error_text(tmp_path, "scribbler")
    assert "notebooks folder is read-only" in scribbler and "tempfile" in scribbler
    assert not (tmp_path / "notebooks" / "scribbled.txt").exists()
    assert_no_kernels_left(tmp_path / "var" / "state" / "autoflow.db")
