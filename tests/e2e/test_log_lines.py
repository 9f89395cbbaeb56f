"""What a failing run writes to stderr: JSON lines only, each line about a run naming it."""

from __future__ import annotations

import json

import pytest
from daemon_process import cli
from faulty_project import drop_marker, single_notebook_project

pytestmark = pytest.mark.e2e

RUN_KEYS = ("workflow", "reference_date", "run_id", "notebook")
COMPLAINT = "low-level complaint written straight to the kernel's stderr"


def test_a_timed_out_run_logs_only_json_lines_each_naming_its_run(tmp_path):
    cell = f"import os, time\nos.write(2, b{COMPLAINT!r} + b'\\n')\ntime.sleep(120)"
    config = single_notebook_project(tmp_path, cell, execution='cell_timeout = "2s"', workflow="max_attempts = 1")
    drop_marker(config)
    result = cli(config, "run", "--once")
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # a raw traceback would not parse
    assert all(line.get("logger") for line in lines), "every line says which part of the program wrote it"
    about_runs = [line for line in lines if "reference_date" in line]
    assert about_runs and all(set(RUN_KEYS) <= set(line) for line in about_runs)
    from_papermill = [line for line in lines if line.get("logger") == "papermill"]
    assert from_papermill, "papermill reported the timeout"
    assert all(line["run_id"] and line["notebook"] == "job" for line in from_papermill), "tagged with its run"
    [finished] = [line for line in lines if line.get("event") == "run.finished"]
    assert finished["error_type"] == "CellTimeoutError" and finished["error"], "the exception's type, then its words"
    assert COMPLAINT not in result.stderr, "the kernel's own output is not mixed into the daemon's logs"
    [error_txt] = (config.parent / "var" / "outbox" / "_failed").rglob("error.txt")
    assert COMPLAINT in error_txt.read_text(), "but it is in error.txt, for whoever debugs the run"
