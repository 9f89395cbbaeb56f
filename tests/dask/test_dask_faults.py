"""What each fault does on a real Dask cluster: a worker killed mid-notebook, the scheduler gone and back,
run_timeout, and SIGTERM of the daemon."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, alive_pids, descendants, wait_for
from dask_cluster import DaskCluster, use_dask
from notebooks import write_notebook
from project_files import FAST_EXECUTION_TOML, PATHS_TOML

pytestmark = [pytest.mark.e2e, pytest.mark.dask]

# Holds while the test's hold file exists (the test controls the kernel from outside; the workers here
# run as root on this host, so they can see it: the other-user test proves no filesystem is shared).
HOLD = """\
import os, time
deadline = time.time() + 600
while hold and os.path.exists(hold) and time.time() < deadline:
    time.sleep(0.2)
print("released", reference_date)
"""


def _hold_project(folder: Path, address: str, *, execution: str = "", workflow: str = "") -> Path:
    hold = folder / "hold"
    hold.touch()
    write_notebook(folder / "notebooks" / "slow.ipynb", 'reference_date = ""\nhold = ""', HOLD, title="# Held")
    config = folder / "autoflow.toml"
    config.write_text(
        f"""
{PATHS_TOML}
{FAST_EXECUTION_TOML}
[inbox]
settle = "0.2s"
rescan_interval = "2s"

[[workflow]]
name = "held"
datasets = ["calls"]
parameters = {{ hold = "{hold}" }}
{workflow}

  [[workflow.notebook]]
  name = "slow"
  path = "slow.ipynb"
  report = {{ formats = ["html"] }}
""",
        encoding="utf-8",
    )
    return use_dask(config, address, execution)


def _attempts(folder: Path) -> list[dict]:
    with sqlite3.connect(folder / "var" / "state" / "autoflow.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM attempts ORDER BY started_at")]


def _manifest(folder: Path, day: str = "2026-11-24") -> Path:
    return folder / "var" / "outbox" / "held" / day / "manifest.json"


def _worker_pids(cluster: DaskCluster) -> dict[int, str]:
    from distributed import Client

    with Client(cluster.address, timeout=10, set_as_default=False) as client:
        return {pid: address for address, pid in client.run(os.getpid).items()}


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _worker_of(kernel: int, workers: dict[int, str]) -> tuple[int, str]:
    """The pid and address of the Dask worker above ``kernel`` (its parent, or its template's parent)."""
    pid = _parent(kernel)
    while pid not in workers and pid > 1:
        pid = _parent(pid)
    return pid, workers[pid]


def test_a_worker_killed_mid_notebook_fails_that_attempt_once_and_the_retry_publishes_once(
    tmp_path: Path, cluster: DaskCluster
) -> None:
    cluster.start_worker()
    cluster.start_worker()
    cluster.wait_workers(2)
    config = _hold_project(tmp_path, cluster.address)
    daemon = DaemonProcess(config).start()
    try:
        (tmp_path / "var" / "inbox" / "calls_2026-11-24.ready").touch()
        [kernel] = wait_for(cluster.kernels, 120, what="the notebook's kernel on a worker")
        worker, address = _worker_of(kernel, _worker_pids(cluster))
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda: not alive_pids([kernel]), 15, what="the killed worker's kernel to die with it")
        (tmp_path / "hold").unlink()  # the retry runs straight through
        wait_for(_manifest(tmp_path).exists, 180, what="the retry's report")
        # the report is published before the attempt is closed in the store: wait for that too
        first, second = wait_for(lambda: _ended(tmp_path).get("2026-11-24"), 30, what="both attempts to end")
        assert first["outcome"] == "failed" and first["error_type"] == "WorkerLost"
        assert address in first["error"], "the error names the lost worker"
        assert first["failing_notebook"] == "slow"
        assert second["outcome"] == "succeeded"
        assert json.loads(_manifest(tmp_path).read_text())["run_id"] == second["run_id"]
        assert len(daemon.events("run.published")) == 1
        wait_for(lambda: not cluster.kernels(), 15, what="no kernel left on the workers")
    finally:
        assert daemon.stop() == 0


def _attempts_by_day(folder: Path) -> dict[str, list[dict]]:
    """Each run's attempts in order, keyed by reference date, with the run's counted attempts beside them."""
    with sqlite3.connect(folder / "var" / "state" / "autoflow.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT a.*, r.reference_date, r.attempts AS counted FROM attempts a"
            " JOIN runs r ON r.id = a.run_pk ORDER BY a.started_at"
        ).fetchall()
    days: dict[str, list[dict]] = {}
    for row in rows:
        days.setdefault(row["reference_date"], []).append(dict(row))
    return days


def _ended(folder: Path) -> dict[str, list[dict]]:
    """:func:`_attempts_by_day` for the runs none of whose attempts is still running."""
    return {
        day: attempts
        for day, attempts in _attempts_by_day(folder).items()
        if all(a["outcome"] != "running" for a in attempts)
    }


def test_scheduler_stopped_then_started_again_pending_runs_then_publish(tmp_path: Path, cluster: DaskCluster) -> None:
    """DESIGN.md: an unreachable scheduler is an outage; due runs stay pending; a run whose task was lost
    with the scheduler is given back without counting the attempt, like one interrupted by SIGTERM.

    The second marker arrives once the daemon knows the scheduler is gone, so its run must wait,
    pending, with no attempt at all. (A run claimed in the instant before the daemon can know is
    given back the same way as the first: its task goes with the scheduler.)
    """
    cluster.start_worker()
    cluster.wait_workers(1)
    config = _hold_project(tmp_path, cluster.address)
    daemon = DaemonProcess(config).start()
    try:
        daemon.wait_for_event("dask.connected", timeout=60)
        (tmp_path / "var" / "inbox" / "calls_2026-11-23.ready").touch()
        [kernel] = wait_for(cluster.kernels, 120, what="the first run's kernel on the worker")
        cluster.stop_scheduler()  # with a task on the cluster
        daemon.wait_for_event("dask.scheduler_unavailable", timeout=60)
        wait_for(lambda: not alive_pids([kernel]), 60, what="the kernel to go with its worker's scheduler")
        [given_back] = wait_for(lambda: _ended(tmp_path).get("2026-11-23"), 60, what="the first attempt to end")
        assert (given_back["outcome"], given_back["error_type"]) == ("interrupted", "SchedulerLost")
        assert given_back["counted"] == 0, "the lost task's attempt does not count"

        (tmp_path / "var" / "inbox" / "calls_2026-11-24.ready").touch()  # during the outage
        wait_for(
            lambda: any(e["reference_date"] == "2026-11-24" for e in daemon.events("run.planned")),
            60,
            what="the second run to be planned",
        )
        (tmp_path / "hold").unlink()
        cluster.start_scheduler()
        cluster.start_worker()  # workers leave with their scheduler; systemd's Restart= brings them back
        cluster.wait_workers(1, timeout=120)
        wait_for(lambda: _manifest(tmp_path, "2026-11-23").exists() and _manifest(tmp_path).exists(), 240)
        assert len(daemon.events("dask.scheduler_unavailable")) == 1, "an outage is logged once, not at every retry"
        assert len(daemon.events("dask.scheduler_available_again")) == 1
        days = wait_for(lambda: len(_ended(tmp_path)) == 2 and _ended(tmp_path), 30, what="every attempt to end")
        outcomes = {day: [(a["outcome"], a["error_type"]) for a in attempts] for day, attempts in days.items()}
        assert outcomes == {
            "2026-11-23": [("interrupted", "SchedulerLost"), ("succeeded", None)],
            "2026-11-24": [("succeeded", None)],  # pending while the scheduler was away: never claimed then
        }
        assert [days[day][-1]["counted"] for day in sorted(days)] == [1, 1], "the given-back attempt did not count"
        assert daemon.process is not None and daemon.process.poll() is None
    finally:
        assert daemon.stop() == 0


def test_run_timeout_on_the_cluster_kills_the_remote_kernel(tmp_path: Path, cluster: DaskCluster) -> None:
    cluster.start_worker()
    cluster.wait_workers(1)
    config = _hold_project(tmp_path, cluster.address, workflow='run_timeout = "6s"\nmax_attempts = 1')
    daemon = DaemonProcess(config).start()
    try:
        (tmp_path / "var" / "inbox" / "calls_2026-11-24.ready").touch()
        [kernel] = wait_for(cluster.kernels, 120, what="the notebook's kernel on the worker")
        daemon.wait_for_event("run.finished", timeout=120)
        wait_for(lambda: not alive_pids([kernel]), 15, what="the timed-out run's kernel to be killed on the worker")
        [attempt] = _attempts(tmp_path)
        assert attempt["error_type"] == "RunTimeout"
        assert cluster.workers[0].poll() is None, "the worker itself lives on"
    finally:
        assert daemon.stop() == 0


def test_sigterm_of_the_daemon_leaves_nothing_of_its_own_alive(tmp_path: Path, cluster: DaskCluster) -> None:
    cluster.start_worker()
    cluster.wait_workers(1)
    config = _hold_project(tmp_path, cluster.address)  # shutdown_grace 5s
    daemon = DaemonProcess(config).start()
    (tmp_path / "var" / "inbox" / "calls_2026-11-24.ready").touch()
    [kernel] = wait_for(cluster.kernels, 120, what="the notebook's kernel on the worker")
    children = descendants(daemon.pid)
    assert daemon.stop(timeout=90) == 0
    wait_for(lambda: not alive_pids([kernel]), 15, what="the remote kernel to be killed")
    assert not alive_pids(children), "no process the daemon started outlives it"
    [attempt] = _attempts(tmp_path)
    assert attempt["outcome"] == "interrupted", "SIGTERM gives the run back without counting the attempt"
