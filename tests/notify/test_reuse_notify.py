"""A run that recovers by reusing its unchanged notebooks says so: in the notification and in the metrics."""

from __future__ import annotations

import json

import pytest
from daemon_process import DaemonProcess, cli, wait_for
from receivers import start_http
from reuse_project import DAY, drop_marker, reuse_project, set_failing

pytestmark = pytest.mark.e2e


def test_the_recovered_notification_names_the_reused_notebooks_and_metrics_count_them(tmp_path):
    hook = start_http()
    config = reuse_project(tmp_path, workflow="max_attempts = 1")
    with config.open("a", encoding="utf-8") as handle:
        handle.write(
            f'\n[notify]\nurls = ["json://127.0.0.1:{hook.port}/hook"]\non = ["dead", "recovered"]\n'
            '\n[metrics]\ntextfile = "var/metrics/autoflow-watch.prom"\n'
        )
    set_failing(config, True)
    daemon = DaemonProcess(config).start()
    try:
        drop_marker(config)
        wait_for(lambda: len(hook.bodies) >= 1, 180, what="the dead notification")
        set_failing(config, False)  # the fix
        assert cli(config, "rerun", "three", DAY).returncode == 0
        wait_for(lambda: len(hook.bodies) >= 2, 180, what="the recovered notification")
    finally:
        assert daemon.stop() == 0
        assert hook.server is not None
        hook.server.shutdown()
    dead, recovered = hook.bodies
    assert "recovered" in recovered["title"] and "Reused:" not in dead["message"]
    assert "Reused:         extract, transform" in recovered["message"]
    textfile = (tmp_path / "var" / "metrics" / "autoflow-watch.prom").read_text()
    assert 'autoflow_watch_notebooks_reused_total{workflow="three"} 2.0' in textfile
    [run] = json.loads(cli(config, "status", "--json").stdout)
    assert run["reused"] == 2
