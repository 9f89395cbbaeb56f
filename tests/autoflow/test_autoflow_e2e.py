"""A FlowKit user's move, end to end: import AutoFlow's workflows.yml, fill in the FlowAPI URL, run.

The real daemon (`run --once`) polls a fake FlowAPI with the real flowclient; the notebooks, written
for AutoFlow and left untouched, call ``run_query``/``get_result_by_query_id``/``get_geography``
against it and read the token with ``get_secret_or_env_var``. The report first fails as AutoFlow's
example does under pandas 2 (``Styler.hide_index``); the analyst fixes the cell and reruns the
dates, which runs them at once although their retry is an hour away — and executes only the fixed
report notebook: the FlowAPI queries' notebook is reused (docs/reuse.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from autoflow_files import FLOWS_YML, write_flows_notebooks, write_report
from daemon_process import cli

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flowapi"))

from fake_flowapi import FakeFlowApi
from test_import import import_autoflow

pytestmark = pytest.mark.e2e

DATES = {"calls": ["2016-01-01", "2016-01-02", "2016-01-03", "2016-01-04", "2016-01-05"], "sms": ["2016-01-06"]}
# What AutoFlow's sensor would run: the union of calls and sms dates, from earliest_date, with the
# stencil [[2016-01-01, 2016-01-02], -1, 0] available (2016-01-06 needs 2016-01-05 from calls).
EXPECTED_RUNS = [
    ("flows_above_normal", "2016-01-04"),
    ("flows_above_normal", "2016-01-05"),
    ("flows_above_normal", "2016-01-06"),
    ("flows_above_normal-2", "2016-01-06"),
]


def autoflow_passes(url: str, unit: str, day: str, run_flows_path: str) -> dict[str, dict[str, Any]]:
    """The parameters AutoFlow's make_notebooks_workflow hands each notebook for this reference date."""
    prev = {"2016-01-04": "2016-01-03", "2016-01-05": "2016-01-04", "2016-01-06": "2016-01-05"}[day]
    after = {"2016-01-04": "2016-01-05", "2016-01-05": "2016-01-06", "2016-01-06": "2016-01-07"}[day]
    return {
        "run_flows": {
            "flowapi_url": url,
            "aggregation_unit": unit,
            "date_ranges": [["2016-01-01", "2016-01-02"], [prev, day], [day, after]],
        },
        "flows_report": {
            "flowapi_url": url,
            "aggregation_unit": unit,
            "reference_date": day,
            "previous_notebook": run_flows_path,
        },
    }


def status(config: Path) -> list[dict[str, Any]]:
    done = cli(config, "status", "--json")
    assert done.returncode == 0, done.stderr
    return sorted(json.loads(done.stdout), key=lambda r: (r["workflow"], r["reference_date"]))


def injected(notebook: Path) -> dict[str, Any]:
    return dict(nbformat.read(str(notebook), as_version=4).metadata["papermill"]["parameters"])


def test_an_autoflow_deployment_imported_runs_its_untouched_notebooks(tmp_path: Path) -> None:
    inputs = write_flows_notebooks(tmp_path / "inputs")  # the report still calls Styler.hide_index
    (inputs / "workflows.yml").write_text(FLOWS_YML)
    config = tmp_path / "deploy" / "autoflow-watch.toml"
    imported = import_autoflow(str(inputs / "workflows.yml"), "-o", str(config))
    assert imported.returncode == 0, imported.stderr

    with FakeFlowApi(DATES) as flowapi:
        token = flowapi.make_token()
        # The operator fills in what AutoFlow kept elsewhere: here the FlowAPI URL, and retries an hour apart.
        text = config.read_text().replace('"http://localhost:9090"', json.dumps(flowapi.url))
        config.write_text(text + '\n[execution]\nretry_backoff = "1h"\ncell_timeout = "2m"\n')
        env = {"FLOWAPI_TOKEN": token}

        first = cli(config, "run", "--once", env=env)
        assert first.returncode == 1, first.stderr  # every report failed
        runs = status(config)
        assert [(r["workflow"], r["reference_date"]) for r in runs] == EXPECTED_RUNS
        assert {r["state"] for r in runs} == {"failed"}
        errors = list((tmp_path / "deploy" / "var" / "outbox" / "_failed").rglob("error.txt"))
        assert len(errors) == len(EXPECTED_RUNS)
        error_text = errors[0].read_text()
        assert "flows_report" in error_text and "hide_index" in error_text and "AttributeError" in error_text

        write_report(inputs, fixed=True)  # the analyst fixes the one cell
        waiting = cli(config, "run", "--once", env=env)
        assert waiting.returncode == 0, waiting.stderr
        assert {r["state"] for r in status(config)} == {"failed"}  # retries are an hour away
        failed_attempts = {(r["workflow"], r["reference_date"]): r["run_id"] for r in status(config)}
        queries_before = sum(1 for r in flowapi.seen() if r.method == "POST")
        for workflow in ("flows_above_normal", "flows_above_normal-2"):
            dates = [day for name, day in EXPECTED_RUNS if name == workflow]
            rerun = cli(config, "rerun", workflow, *dates)
            assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        second = cli(config, "run", "--once", env=env)
        assert second.returncode == 0, second.stderr
        token_seen = set(flowapi.bearers())
        # only the fixed report ran again: run_flows (the FlowAPI queries) was reused (docs/reuse.md)
        assert sum(1 for r in flowapi.seen() if r.method == "POST") == queries_before

    runs = status(config)
    assert {r["state"] for r in runs} == {"succeeded"}, runs
    assert token_seen == {token}  # the notebooks' own flowclient calls carried the token from the environment
    deploy = tmp_path / "deploy"
    for run in runs:
        workflow, day = run["workflow"], run["reference_date"]
        folder = deploy / "var" / "outbox" / workflow / day
        assert (folder / "flows_report.pdf").read_bytes().startswith(b"%PDF")
        manifest = json.loads((folder / "manifest.json").read_text())
        first_run_id = failed_attempts[(workflow, day)]
        assert {nb["name"]: nb["reused_from"] for nb in manifest["notebooks"]} == {
            "run_flows": first_run_id,
            "flows_report": None,
        }
        assert run["reused"] == 1
        assert {nb["name"]: nb["state"] for nb in run["notebooks"]} == {
            "run_flows": "reused",
            "flows_report": "succeeded",
        }
        assert not (folder / "run_flows.pdf").exists()  # AutoFlow made a PDF of the report only
        work = deploy / "var" / "work" / workflow / day / run["run_id"]
        unit = "admin2" if workflow == "flows_above_normal" else "admin3"
        expected = autoflow_passes(flowapi.url, unit, day, str(work / "run_flows.ipynb"))
        assert injected(work / "run_flows.ipynb") == expected["run_flows"]
        report = injected(work / "flows_report.ipynb")
        # a sealed kernel reads its upstream from a copy in its own run folder (docs/sandbox.md)
        upstream = Path(report.pop("previous_notebook"))
        assert upstream.name == "run_flows.ipynb" and upstream.parent.name == "run", upstream
        assert report == {k: v for k, v in expected["flows_report"].items() if k != "previous_notebook"}


def test_status_says_when_a_scheduled_daemon_checks_flowapi_next(tmp_path: Path) -> None:
    inputs = write_flows_notebooks(tmp_path / "inputs", fixed=True)
    (inputs / "workflows.yml").write_text(FLOWS_YML)
    config = tmp_path / "autoflow-watch.toml"
    assert import_autoflow(str(inputs / "workflows.yml"), "-o", str(config)).returncode == 0
    shown = cli(config, "status")
    assert shown.returncode == 0, shown.stderr
    first_line = shown.stdout.splitlines()[0]
    assert first_line.startswith("FlowAPI is checked on schedule '0 0 * * *': next check ")
    assert "T00:00:00" in first_line
