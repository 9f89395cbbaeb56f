"""The spine end to end: markers in a real inbox become a published report, once."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest
from daemon_process import DaemonProcess, assert_no_kernels_left, cli, wait_for

pytestmark = pytest.mark.e2e


def touch_markers(project, *days):
    for day in days:
        (project / "var" / "inbox" / f"calls_{day}.ready").parent.mkdir(parents=True, exist_ok=True)
        (project / "var" / "inbox" / f"calls_{day}.ready").touch()


def test_markers_become_a_published_report_with_manifest_and_index(project):
    daemon = DaemonProcess(project / "autoflow.toml").start()
    try:
        touch_markers(project, "2026-11-23", "2026-11-24")
        report = project / "var" / "outbox" / "daily" / "2026-11-24"
        wait_for(lambda: (report / "manifest.json").exists(), timeout=120, what="the report's manifest")
    finally:
        assert daemon.stop() == 0
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "The total for" in html and "41000" in html, "the report's values are in the HTML"
    assert "read_notebook" not in html, "code cells are hidden"
    assert 'src="data:image/png;base64,' in html, "a figure left to inline display is embedded"
    pdf = (report / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(report / "report.pdf"), "-"], capture_output=True, text=True).stdout
        assert "41000" in text
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["workflow"] == "daily" and manifest["reference_date"] == "2026-11-24"
    assert {nb["name"] for nb in manifest["notebooks"]} == {"aggregate", "report"}
    for output in manifest["outputs"]:
        data = (report / output["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == output["sha256"] and len(data) == output["bytes"]
    assert manifest["parameters"]["region"] == "admin2"
    processed = sorted(p.name for p in (project / "var" / "inbox" / "processed").iterdir())
    assert processed == ["calls_2026-11-23.ready", "calls_2026-11-24.ready"]
    assert (project / "var" / "outbox" / "index.html").exists()
    status = json.loads(cli(project / "autoflow.toml", "status", "--json").stdout)
    assert [(r["reference_date"], r["state"], r["attempts"]) for r in status] == [("2026-11-24", "succeeded", 1)]
    assert status[0]["run_id"] == manifest["run_id"]
    assert_no_kernels_left(project / "var" / "state" / "autoflow.db")


def test_second_start_with_the_same_markers_plans_nothing_new(project):
    touch_markers(project, "2026-11-23", "2026-11-24")
    first = cli(project / "autoflow.toml", "run", "--once")
    assert first.returncode == 0, first.stderr
    manifest = project / "var" / "outbox" / "daily" / "2026-11-24" / "manifest.json"
    run_id = json.loads(manifest.read_text())["run_id"]
    shutil.copy(project / "var" / "inbox" / "processed" / "calls_2026-11-24.ready", project / "var" / "inbox")
    second = cli(project / "autoflow.toml", "run", "--once")
    assert second.returncode == 0, second.stderr
    assert json.loads(manifest.read_text())["run_id"] == run_id
    status = json.loads(cli(project / "autoflow.toml", "status", "--json").stdout)
    assert [(r["state"], r["attempts"]) for r in status] == [("succeeded", 1)]
    assert "run.started" not in second.stderr


def test_status_json_is_pure_json_on_stdout_and_logs_go_to_stderr(project):
    touch_markers(project, "2026-11-23", "2026-11-24")
    run = cli(project / "autoflow.toml", "run", "--once")
    assert run.stdout == ""
    status = cli(project / "autoflow.toml", "status", "--json")
    [record] = json.loads(status.stdout)
    assert set(record) >= {
        "workflow",
        "reference_date",
        "state",
        "attempts",
        "run_id",
        "started_at",
        "finished_at",
        "error",
    }
    log_lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    run_lines = [line for line in log_lines if line.get("event") == "notebook.succeeded"]
    assert run_lines and all({"workflow", "reference_date", "run_id", "notebook"} <= set(line) for line in run_lines)


def test_validate_exits_2_on_a_bad_config_with_one_line_per_problem(project):
    (project / "notebooks" / "report.ipynb").unlink()
    result = cli(project / "autoflow.toml", "validate")
    assert result.returncode == 2
    assert (
        result.stderr.count("\n") == 1
        and "report.ipynb" in result.stderr
        and "workflow[0].notebook[1].path" in result.stderr
    )
    assert cli(project / "autoflow.toml", "run", "--once").returncode == 2, "the daemon never starts on a bad config"


def test_manifest_names_the_notebook_as_executed_when_it_changed_after_start(project):
    daemon = DaemonProcess(project / "autoflow.toml").start()
    try:
        notebook = project / "notebooks" / "report.ipynb"
        document = json.loads(notebook.read_text(encoding="utf-8"))
        document["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "Edited after start."})
        notebook.write_text(json.dumps(document), encoding="utf-8")
        touch_markers(project, "2026-11-23", "2026-11-24")
        manifest = project / "var" / "outbox" / "daily" / "2026-11-24" / "manifest.json"
        wait_for(manifest.exists, timeout=120, what="the report's manifest")
    finally:
        assert daemon.stop() == 0
    [entry] = [nb for nb in json.loads(manifest.read_text())["notebooks"] if nb["name"] == "report"]
    assert entry["source_sha256"] == hashlib.sha256(notebook.read_bytes()).hexdigest()
    assert "Edited after start." in (manifest.parent / "report.html").read_text(encoding="utf-8")
    assert daemon.events("notebook.changed_since_config_load"), "the operator is told to reload"
