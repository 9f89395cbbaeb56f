"""The metrics page of the real daemon, parsed with prometheus_client's parser, agrees with `status --json`."""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, cli, wait_for
from faulty_project import drop_marker
from project_files import write_config
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_page_and_textfile_agree_with_status(project: Path) -> None:
    config = write_config(
        project,
        extra='[metrics]\nlisten = "127.0.0.1:0"\ntextfile = "var/metrics/autoflow-watch.prom"\n',
    )
    (project / "var" / "inbox").mkdir(parents=True, exist_ok=True)
    for day in ("2026-11-22", "2026-11-23", "2026-11-24"):
        drop_marker(config, day)
    (project / "var" / "inbox" / "notes.txt").write_text("not a marker")
    daemon = DaemonProcess(config).start()
    try:
        [listening] = daemon.wait_for_event("metrics.listening")
        runs = wait_for(
            lambda: (
                (r := json.loads(cli(config, "status", "--json").stdout))
                and all(x["state"] == "succeeded" for x in r)
                and r
            ),
            180,
            what="the runs to succeed",
        )
        with urllib.request.urlopen(listening["url"], timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain")
            page = answer.read().decode()
        textfile = (project / "var" / "metrics" / "autoflow-watch.prom").read_text()
    finally:
        assert daemon.stop() == 0
    got = samples(page)
    by_state = Counter(r["state"] for r in runs)
    for state in ("pending", "running", "succeeded", "failed", "dead"):
        assert got[("autoflow_watch_runs", (("state", state), ("workflow", "daily")))] == by_state.get(state, 0)
    newest = max(dt.datetime.fromisoformat(r["finished_at"]).timestamp() for r in runs)
    assert abs(got[("autoflow_watch_last_success_timestamp_seconds", (("workflow", "daily"),))] - newest) < 1.0
    attempts = sum(r["attempts"] for r in runs)
    assert got[("autoflow_watch_attempts_total", (("outcome", "succeeded"), ("workflow", "daily")))] == attempts
    assert got[("autoflow_watch_attempts_total", (("outcome", "failed"), ("workflow", "daily")))] == 0
    assert got[("autoflow_watch_run_duration_seconds_count", (("workflow", "daily"),))] == attempts
    assert got[("autoflow_watch_facts", (("source", "inbox"),))] == 3
    assert got[("autoflow_watch_markers_rejected_total", ())] == 1
    assert got[("autoflow_watch_source_errors_total", (("source", "inbox"),))] == 0
    healthy = {dict(labels)["component"]: v for (name, labels), v in got.items() if name.endswith("component_healthy")}
    assert healthy == {"main": 1.0, "inbox": 1.0, "store": 1.0}
    labels = {key for (_, pairs) in got for key, _ in pairs}
    assert labels <= {"workflow", "state", "outcome", "source", "component", "target", "le"}, "bounded labels only"
    from_file = samples(textfile)
    assert {k: v for k, v in from_file.items() if k[0] == "autoflow_watch_runs"} == {
        k: v for k, v in got.items() if k[0] == "autoflow_watch_runs"
    }, "the textfile written at shutdown says the same"
