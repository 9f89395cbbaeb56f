"""kill -9 at any moment of a run: starting, executing, rendering, publishing.

After each kill a reader of the outbox sees either no report or a complete one; after the
last restart there is exactly one succeeded run and one report, and no kernel is left.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, assert_no_kernels_left, cli, wait_for
from faulty_project import drop_marker, single_notebook_project

pytestmark = pytest.mark.e2e

# seconds after READY at which each daemon is killed: spread over kernel start, the cell,
# rendering and publishing of a run that takes about 3 s on this machine
KILL_AFTER_S = (0.4, 1.2, 2.0, 2.8, 3.6)
CELL = "import time\ntime.sleep(1)\nprint('finished')"


def assert_every_manifest_describes_complete_files(outbox: Path) -> None:
    for manifest in outbox.glob("*/*/manifest.json"):
        document = json.loads(manifest.read_text(encoding="utf-8"))
        for output in document["outputs"]:
            data = (manifest.parent / output["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == output["sha256"], f"{output['path']} is not the one published"


def succeeded(config: Path) -> list[dict[str, object]]:
    runs = json.loads(cli(config, "status", "--json").stdout)
    return runs if [r["state"] for r in runs] == ["succeeded"] else []


def test_daemon_killed_at_any_moment_publishes_exactly_one_complete_report(tmp_path, state_db):
    config = single_notebook_project(tmp_path, CELL, workflow=f"max_attempts = {len(KILL_AFTER_S) + 2}")
    outbox = tmp_path / "var" / "outbox"
    drop_marker(config)
    for delay in KILL_AFTER_S:
        daemon = DaemonProcess(config).start()
        time.sleep(delay)
        daemon.kill9()
        assert_every_manifest_describes_complete_files(outbox)

    final = DaemonProcess(config).start()
    try:
        manifest = outbox / "faulty" / "2026-11-24" / "manifest.json"
        wait_for(manifest.exists, timeout=120, what="the report after the last restart")
        [run] = wait_for(lambda: succeeded(config), timeout=60, what="the run recorded as succeeded")
    finally:
        assert final.stop() == 0
    assert json.loads(manifest.read_text())["run_id"] == run["run_id"], "the report is the recorded run's"
    assert len(list(outbox.glob("faulty/*/manifest.json"))) == 1
    assert_every_manifest_describes_complete_files(outbox)
    assert not list((outbox / ".staging").glob("*")), "what the killed daemons left in staging is gone"
    assert_no_kernels_left(state_db)
