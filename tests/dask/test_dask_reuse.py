"""Reuse on Dask (docs/reuse.md): a reused notebook's copy is shipped to the worker that runs what reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_process import DaemonProcess, cli, wait_for
from dask_cluster import DaskCluster, use_dask
from reuse_project import DAY, drop_marker, executed_by, reuse_project, reused_from, run_status, set_failing

pytestmark = [pytest.mark.e2e, pytest.mark.dask]


def test_after_a_kill_9_the_retry_on_the_cluster_executes_only_the_report(tmp_path: Path, cluster: DaskCluster) -> None:
    cluster.start_worker()
    cluster.wait_workers(1)
    config = use_dask(reuse_project(tmp_path, workflow='retry_backoff = "1h"'), cluster.address)
    set_failing(config, True)
    daemon = DaemonProcess(config).start()
    drop_marker(config)
    wait_for(lambda: run_status(config)["state"] == "failed", 240, what="the first attempt's failure")
    first = run_status(config)
    assert executed_by(config, first["run_id"]) == {"extract", "transform", "report"}
    daemon.kill9()

    set_failing(config, False)
    assert cli(config, "rerun", "three", DAY).returncode == 0
    daemon = DaemonProcess(config).start()
    try:
        manifest = tmp_path / "var" / "outbox" / "three" / DAY / "manifest.json"
        wait_for(manifest.exists, 240, what="the report published after the fix")
    finally:
        assert daemon.stop() == 0
    second = run_status(config)
    assert executed_by(config, second["run_id"]) == {"report"}, "extract and transform were reused"
    assert reused_from(config) == {"extract": first["run_id"], "transform": first["run_id"], "report": None}
    report = (tmp_path / "var" / "outbox" / "three" / DAY / "report.html").read_text()
    assert "<strong>22</strong> rows" in report, "the report on the worker read the reused transform's copy"
