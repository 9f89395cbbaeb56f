"""A state store that goes away and comes back (PostgreSQL restarted) is waited out, not fatal.

A report finished meanwhile waits staged: it is published once the store confirms the claim.
"""

from __future__ import annotations

import json
import os
import time

import pytest
from daemon_process import DaemonProcess, cli
from faulty_project import drop_marker, single_notebook_project
from private_postgres import PrivatePostgres, postgres_bin

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def outbox_folder(config):
    return config.parent / "var" / "outbox" / "faulty" / "2026-11-24"


@pytest.fixture
def postgres():
    bin_dir = postgres_bin()
    if bin_dir is None:
        if os.environ.get("AUTOFLOW_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail("PostgreSQL binaries are missing although scripts/test.sh installs them")
        pytest.skip("no PostgreSQL binaries: run the suite through scripts/test.sh")
    server = PrivatePostgres(bin_dir).create()
    try:
        yield server
    finally:
        server.destroy()


def test_postgres_restarted_mid_run_the_daemon_waits_and_records_the_run_once(tmp_path, postgres):
    config = single_notebook_project(tmp_path, "import time\ntime.sleep(2)\nprint('finished')")
    config.write_text(config.read_text().replace("sqlite:///var/state/autoflow.db", postgres.url))
    daemon = DaemonProcess(config).start()
    try:
        drop_marker(config)
        daemon.wait_for_event("run.started", timeout=60)
        postgres.stop()
        daemon.wait_for_event("store.unavailable", timeout=60)
        daemon.wait_for_event("run.report_staged", timeout=60)  # the run ends while its store is away
        time.sleep(3)
        assert daemon.process.poll() is None, "the daemon outlives its store"
        assert not daemon.events("run.finished"), "nothing could be recorded yet"
        assert not daemon.events("run.published"), "nor published before the store confirms the claim"
        assert not outbox_folder(config).exists()
        postgres.start()
        daemon.wait_for_event("store.available_again", timeout=60)
        daemon.wait_for_event("run.finished", timeout=60)
    finally:
        assert daemon.stop() == 0
    assert len(daemon.events("store.unavailable")) == 1, "the outage is told once, not at every retry"
    assert len(daemon.events("run.report_staged")) == 1, "the wait is told once"
    assert len(daemon.events("run.published")) == 1, "published once the store confirmed the claim"
    [run] = json.loads(cli(config, "status", "--json").stdout)
    assert (run["state"], run["attempts"]) == ("succeeded", 1)
    manifest = outbox_folder(config) / "manifest.json"
    assert json.loads(manifest.read_text())["run_id"] == run["run_id"]
