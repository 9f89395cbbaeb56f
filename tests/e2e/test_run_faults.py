"""Runs that survive anything: each fault is caused for real, then recovery is checked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
from daemon_process import (
    DaemonProcess,
    alive_pids,
    assert_no_kernels_left,
    cli,
    descendants,
    recorded_kernel_pids,
    wait_for,
)
from faulty_project import drop_marker, single_notebook_project

pytestmark = pytest.mark.e2e


def status_of(config):
    return json.loads(cli(config, "status", "--json").stdout)


def failed_folders(config):
    root = config.parent / "var" / "outbox" / "_failed" / "faulty" / "2026-11-24"
    return sorted(root.iterdir()) if root.exists() else []


def test_cell_that_raises_is_retried_then_dead_with_debug_material(tmp_path, state_db):
    config = single_notebook_project(tmp_path, "x = 1\nraise ValueError('bad input for ' + reference_date)")
    drop_marker(config)
    result = cli(config, "run", "--once")
    assert result.returncode == 1, "a run failed: exit code 1"
    # --once leaves the retry for later; a second --once after the backoff takes it
    time.sleep(2.5)
    assert cli(config, "run", "--once").returncode == 1
    [run] = status_of(config)
    assert (run["state"], run["attempts"]) == ("dead", 2)
    assert "ValueError" in run["error"] and "bad input for 2026-11-24" in run["error"]
    folders = failed_folders(config)
    assert len(folders) == 2, "one _failed folder per attempt"
    for folder in folders:
        names = {p.name for p in folder.iterdir()}
        assert {"job.ipynb", "error.txt"} <= names
        assert "job.html" in names
        error = (folder / "error.txt").read_text()
        assert "ValueError" in error and "cell: 3" in error
    assert not (config.parent / "var" / "outbox" / "faulty" / "2026-11-24").exists(), "nothing half-published"
    assert_no_kernels_left(state_db)


def test_cell_past_cell_timeout_fails_the_attempt_and_kills_the_kernel(tmp_path, state_db):
    config = single_notebook_project(
        tmp_path, "import time\ntime.sleep(120)", execution='cell_timeout = "2s"', workflow="max_attempts = 1"
    )
    drop_marker(config)
    assert cli(config, "run", "--once").returncode == 1
    [run] = status_of(config)
    assert run["state"] == "dead" and "Timeout" in run["error"]
    assert_no_kernels_left(state_db)


def test_kernel_that_dies_mid_cell_fails_the_attempt_once_naming_the_cell(tmp_path, state_db):
    (tmp_path / "effects").mkdir()
    side_effect = tmp_path / "effects" / "side-effect.txt"
    cell = f"import os\nwith open({str(side_effect)!r}, 'a') as f:\n    f.write('ran;')\nos._exit(1)"
    config = single_notebook_project(tmp_path, cell, workflow='max_attempts = 1\nwrite_paths = ["effects"]')
    drop_marker(config)
    result = cli(config, "run", "--once")
    assert result.returncode == 1
    [run] = status_of(config)
    assert run["state"] == "dead" and "DeadKernel" in run["error"]
    assert side_effect.read_text() == "ran;", "a kernel that died mid-cell is not mistaken for a failed start and rerun"
    assert "kernel.start_failed.retrying" not in result.stderr
    [folder] = failed_folders(config)
    assert "cell: 3" in (folder / "error.txt").read_text(), "the cell the kernel died in is named"
    assert_no_kernels_left(state_db)


def test_cell_past_a_memory_limit_fails_only_its_run(tmp_path, state_db):
    cell = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))\n"
        "hog = bytearray(3 * 1024**3)"
    )
    config = single_notebook_project(tmp_path, cell, workflow="max_attempts = 1")
    drop_marker(config)
    assert cli(config, "run", "--once").returncode == 1
    [run] = status_of(config)
    assert run["state"] == "dead" and "MemoryError" in run["error"]
    assert_no_kernels_left(state_db)


def test_run_past_run_timeout_is_killed_with_its_kernels(tmp_path, state_db):
    config = single_notebook_project(
        tmp_path, "import time\ntime.sleep(120)", execution='run_timeout = "3s"', workflow="max_attempts = 1"
    )
    drop_marker(config)
    assert cli(config, "run", "--once").returncode == 1
    [run] = status_of(config)
    assert run["state"] == "dead" and "run_timeout" in run["error"]
    [step] = run["notebooks"]
    assert step["state"] == "failed" and "run_timeout" in step["error"], "the killed notebook is not left running"
    assert_no_kernels_left(state_db)


def test_run_killed_for_its_run_timeout_files_the_notebook_marked_where_it_stopped(tmp_path, state_db):
    config = single_notebook_project(
        tmp_path, "import time\ntime.sleep(120)", execution='run_timeout = "4s"', workflow="max_attempts = 1"
    )
    drop_marker(config)
    assert cli(config, "run", "--once").returncode == 1
    [folder] = failed_folders(config)
    assert sorted(p.name for p in folder.iterdir()) == ["error.txt", "index.html", "job.html", "job.ipynb"]
    page = (folder / "job.html").read_text()
    assert "The run was stopped: run exceeded run_timeout of 4s" in page
    assert page.index("Execution was stopped here") < page.index("sleep"), "marked above the running cell"
    notebook = json.loads((folder / "job.ipynb").read_text())
    assert "The run was stopped" in "".join(notebook["cells"][0]["source"])
    assert "run_timeout" in (folder / "error.txt").read_text()


def test_daemon_killed_mid_notebook_recovers_to_exactly_one_report(tmp_path, state_db):
    config = single_notebook_project(tmp_path, "import time\ntime.sleep(4)\nprint('done')", workflow="max_attempts = 3")
    daemon = DaemonProcess(config).start()
    drop_marker(config)
    wait_for(lambda: recorded_kernel_pids(state_db), timeout=60, what="a kernel to start")
    daemon.kill9()
    pids = recorded_kernel_pids(state_db)
    wait_for(lambda: not alive_pids(pids), timeout=15, what="the orphaned kernel to die with its worker")
    restarted = DaemonProcess(config).start()
    try:
        manifest = config.parent / "var" / "outbox" / "faulty" / "2026-11-24" / "manifest.json"
        wait_for(manifest.exists, timeout=90, what="the report after recovery")
    finally:
        assert restarted.stop() == 0
    [run] = status_of(config)
    assert (run["state"], run["attempts"]) == ("succeeded", 2)
    assert json.loads(manifest.read_text())["run_id"] == run["run_id"]
    assert len(list(manifest.parent.glob("manifest*.json"))) == 1
    assert restarted.events("run.recovered"), "the dead daemon's attempt was reclaimed at once"
    assert_no_kernels_left(state_db)


def test_sigterm_lets_a_short_notebook_finish(tmp_path, state_db):
    config = single_notebook_project(tmp_path, "import time\ntime.sleep(2)", execution='shutdown_grace = "30s"')
    daemon = DaemonProcess(config).start()
    drop_marker(config)
    wait_for(lambda: recorded_kernel_pids(state_db), timeout=60, what="a kernel to start")
    assert daemon.stop() == 0
    [run] = status_of(config)
    assert run["state"] == "succeeded"
    assert_no_kernels_left(state_db)


def test_sigterm_past_the_grace_period_kills_kernels_and_gives_the_attempt_back(tmp_path, state_db):
    config = single_notebook_project(tmp_path, "import time\ntime.sleep(120)", execution='shutdown_grace = "1s"')
    daemon = DaemonProcess(config).start()
    drop_marker(config)
    wait_for(lambda: recorded_kernel_pids(state_db), timeout=60, what="a kernel to start")
    time.sleep(0.5)
    processes = descendants(daemon.pid)
    assert len(processes) >= 2, "a worker and its kernel were running"
    assert daemon.stop() == 0
    [run] = status_of(config)
    assert (run["state"], run["attempts"]) == ("pending", 0), "an interrupted attempt does not count"
    assert_no_kernels_left(state_db, timeout=2)
    assert alive_pids(processes) == [], "no process of the daemon is left once it has exited"


def test_sighup_with_a_broken_config_keeps_the_old_one(tmp_path, state_db):
    config = single_notebook_project(tmp_path, "print('ok')")
    daemon = DaemonProcess(config).start()
    try:
        good = config.read_text()
        config.write_text(good + "\n[nonsense]\n")
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_event("config.reload_refused.kept_old", timeout=30)
        drop_marker(config)
        manifest = config.parent / "var" / "outbox" / "faulty" / "2026-11-24" / "manifest.json"
        wait_for(manifest.exists, timeout=90, what="a report with the old config")
        config.write_text(good.replace("max_attempts = 2", "max_attempts = 5"))
        daemon.signal(signal.SIGHUP)
        daemon.wait_for_event("config.reloaded", timeout=30)
    finally:
        assert daemon.stop() == 0
    refused = daemon.events("config.reload_refused")
    assert refused and "nonsense" in refused[0]["problem"]


def test_second_daemon_on_the_same_store_is_refused_clearly(tmp_path, state_db):
    config = single_notebook_project(tmp_path, "print('ok')")
    first = DaemonProcess(config).start()
    try:
        second = cli(config, "run")
        assert second.returncode == 2
        assert "already running" in second.stderr and str(first.pid) in second.stderr
    finally:
        assert first.stop() == 0


def test_read_only_outbox_fails_the_attempt_then_the_retry_publishes(tmp_path, state_db):
    config = single_notebook_project(tmp_path, "print('ok')", workflow="max_attempts = 3")
    outbox = config.parent / "var" / "outbox"
    outbox.mkdir(parents=True)
    mounted = subprocess.run(["mount", "--bind", str(outbox), str(outbox)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount a read-only outbox here: {mounted.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(outbox)], check=True)
        drop_marker(config)
        assert cli(config, "run", "--once").returncode == 1
        [run] = status_of(config)
        assert run["state"] == "failed" and "publish" in run["error"].lower()
        leftovers = [p for p in outbox.rglob("*")]
        assert leftovers == [], f"nothing partial in the outbox: {leftovers}"
    finally:
        subprocess.run(["umount", str(outbox)], check=False)
    time.sleep(1.5)
    assert cli(config, "run", "--once").returncode == 0
    [run] = status_of(config)
    assert (run["state"], run["attempts"]) == ("succeeded", 2)
    assert (outbox / "faulty" / "2026-11-24" / "manifest.json").exists()
    assert not any(p.name.startswith(".") for p in (outbox / "faulty" / "2026-11-24").iterdir())
    os.sync()


def test_full_outbox_disk_fails_the_attempt_cleanly_then_the_retry_publishes(tmp_path, state_db):
    cell = "for row in range(4000):\n    print(f'row {row:5d}: ' + 'x' * 60)"  # a report of about 300 KB
    config = single_notebook_project(tmp_path, cell, workflow="max_attempts = 3")
    outbox = config.parent / "var" / "outbox"
    outbox.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(outbox)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs as the outbox here: {mounted.stderr.decode().strip()}")
    try:
        drop_marker(config)
        assert cli(config, "run", "--once").returncode == 1
        [run] = status_of(config)
        assert run["state"] == "failed" and "No space left" in run["error"]
        assert not (outbox / "faulty" / "2026-11-24").exists(), "no report folder, not even an empty one"
        assert not list((outbox / ".staging").glob("*")), "what was staged is removed again"

        subprocess.run(["mount", "-o", "remount,size=16m", str(outbox)], check=True)  # the operator frees space
        time.sleep(1.5)  # retry_backoff
        assert cli(config, "run", "--once").returncode == 0
        [run] = status_of(config)
        assert (run["state"], run["attempts"]) == ("succeeded", 2)
        assert "row  3999" in (outbox / "faulty" / "2026-11-24" / "job.html").read_text(encoding="utf-8")
    finally:
        subprocess.run(["umount", str(outbox)], check=False)
