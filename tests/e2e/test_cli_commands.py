"""rerun, backfill and status as an operator uses them."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

import pytest
from daemon_process import cli
from project_files import write_config

pytestmark = pytest.mark.e2e


def touch(project, *days):
    inbox = project / "var" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for day in days:
        (inbox / f"calls_{day}.ready").touch()


def runs(config):
    return {r["reference_date"]: r for r in json.loads(cli(config, "status", "--json").stdout)}


def test_rerun_replaces_the_published_report_with_a_new_run(project):
    config = project / "autoflow.toml"
    touch(project, "2026-11-23", "2026-11-24")
    assert cli(config, "run", "--once").returncode == 0
    manifest = project / "var" / "outbox" / "daily" / "2026-11-24" / "manifest.json"
    first = json.loads(manifest.read_text())["run_id"]
    result = cli(config, "rerun", "daily", "2026-11-24")
    assert result.returncode == 0 and "daily 2026-11-24: queued" in result.stdout
    assert runs(config)["2026-11-24"]["state"] == "pending"
    assert cli(config, "run", "--once").returncode == 0
    second = json.loads(manifest.read_text())
    assert second["run_id"] != first and runs(config)["2026-11-24"]["run_id"] == second["run_id"]
    assert sorted(p.name for p in manifest.parent.iterdir()) == ["manifest.json", "report.html", "report.pdf"]


def test_rerun_of_a_date_without_data_says_so_and_exits_2(project):
    result = cli(project / "autoflow.toml", "rerun", "daily", "2026-01-01")
    assert result.returncode == 2 and "no data for its stencil" in result.stdout


def test_backfill_queues_eligible_dates_before_earliest_date(project):
    write_config(project, workflow_extra="earliest_date = 2026-11-24", report_formats='["html"]')
    config = project / "autoflow.toml"
    touch(project, "2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24")
    assert cli(config, "run", "--once").returncode == 0
    assert list(runs(config)) == ["2026-11-24"], "earliest_date keeps planning from older dates"
    result = cli(config, "backfill", "daily", "--from", "2026-11-01", "--to", "2026-11-23")
    assert result.returncode == 0
    assert "3 eligible date(s)" in result.stdout and "3 queued" in result.stdout
    assert cli(config, "run", "--once").returncode == 0
    assert {d: r["state"] for d, r in runs(config).items()} == {
        "2026-11-24": "succeeded",
        "2026-11-23": "succeeded",
        "2026-11-22": "succeeded",
        "2026-11-21": "succeeded",
    }
    again = cli(config, "backfill", "daily", "--from", "2026-11-01", "--to", "2026-11-23")
    assert "0 queued" in again.stdout and "3 already done" in again.stdout


def test_status_shows_notebooks_with_state_and_duration(project):
    config = project / "autoflow.toml"
    touch(project, "2026-11-23", "2026-11-24")
    assert cli(config, "run", "--once").returncode == 0
    text = cli(config, "status").stdout
    assert "daily  2026-11-24  succeeded" in text
    assert "aggregate" in text and "report" in text and "s\n" in text


def test_unknown_workflow_is_a_usage_error(project):
    result = cli(project / "autoflow.toml", "status", "--workflow", "nope")
    assert result.returncode == 2 and "unknown workflow 'nope'" in result.stderr


def test_bad_date_argument_is_a_usage_error(project):
    result = cli(project / "autoflow.toml", "rerun", "daily", "24/11/2026")
    assert result.returncode == 2 and "YYYY-MM-DD" in result.stderr


def run_once_on_a_terminal(config) -> str:
    """``run --once`` with its stderr on a pseudo-terminal, as an operator sees it; what it drew."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "autoflow_watch", "run", "--config", str(config), "--once"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    assert process.wait(timeout=300) == 0
    return drawn.decode(errors="replace")


def test_run_once_on_a_terminal_shows_a_progress_bar(project):
    write_config(project, report_formats='["html"]', stencil="[0]")
    config = project / "autoflow.toml"
    touch(project, "2026-11-20", "2026-11-21", "2026-11-22")
    drawn = run_once_on_a_terminal(config)
    assert "[" + "-" * 30 + "] 0/3 runs" in drawn and "[" + "#" * 30 + "] 3/3 runs" in drawn
    assert not re.search(r"\] \d+/\d+ runs", run_once_on_a_terminal(config)), "nothing due: no bar at all"
