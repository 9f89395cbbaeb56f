"""An executed notebook over ``[execution] max_notebook_bytes`` fails its run (issue 19, item 9).

A notebook that prints without end would otherwise be read whole by the renderer, filed in
``_failed/`` and (with Dask) shipped back to the daemon. Over the limit it is an error that
names the notebook, the size and the setting; under it nothing changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_process import cli
from faulty_project import drop_marker, single_notebook_project

pytestmark = pytest.mark.e2e

CHATTY = "for i in range(40):\n    print('x' * 65536)"  # ~2.6 MiB of output


def test_a_notebook_over_max_notebook_bytes_fails_its_run_with_a_clear_error(tmp_path: Path) -> None:
    config = single_notebook_project(
        tmp_path, CHATTY, execution=f"max_notebook_bytes = {1024 * 1024}", workflow="max_attempts = 1"
    )
    drop_marker(config)
    done = cli(config, "run", "--once")
    assert done.returncode == 1, done.stderr[-2000:]
    [run] = json.loads(cli(config, "status", "--json").stdout)
    assert run["state"] == "dead"
    assert (
        "executed notebook job is" in run["error"] and "over [execution] max_notebook_bytes (1048576)" in run["error"]
    )
    assert not (tmp_path / "var" / "outbox" / "faulty" / "2026-11-24").exists()


def test_max_notebook_bytes_is_validated(tmp_path: Path) -> None:
    config = single_notebook_project(tmp_path, "1", execution="max_notebook_bytes = 10")
    done = cli(config, "validate")
    assert done.returncode == 2
    assert "execution.max_notebook_bytes" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_notebook_under_the_limit_is_published(tmp_path: Path) -> None:
    config = single_notebook_project(tmp_path, CHATTY, execution=f"max_notebook_bytes = {8 * 1024 * 1024}")
    drop_marker(config)
    done = cli(config, "run", "--once")
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "var" / "outbox" / "faulty" / "2026-11-24" / "manifest.json").is_file()
