"""A hostile Dask worker cannot run code in the daemon: what comes back is data, never a pickle that runs.

The worker is started with a preload script (what an attacker who controls a worker host can do)
that replaces the task function: for one workflow it returns a crafted pickle, for the other it
raises an exception whose pickle runs a command. Unpickled in the daemon, either would create the
file ``pwned``; the daemon must refuse both, fail the runs, and keep running.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, cli, wait_for
from dask_cluster import DaskCluster, use_dask
from notebooks import write_notebook
from project_files import FAST_EXECUTION_TOML, PATHS_TOML

pytestmark = pytest.mark.e2e

PRELOAD = """\
import os
import autoflow_watch.executor.dask.task as task_module

PWNED = {pwned!r}


# run where it is unpickled: notes which process that was (the worker itself unpickles its own errors)
COMMAND = "ps -o args= -p $PPID >> " + PWNED


class Payload:
    def __reduce__(self):
        return (os.system, (COMMAND,))


class PayloadError(Exception):
    def __reduce__(self):
        return (os.system, (COMMAND,))


def hijacked(task):
    if task.job.workflow == "evil-result":
        return {{"worker": "w", "kernel_pid": None, "duration_s": 0.1, "executed": Payload(), "kernel_log": b"",
                "failure": None, "lost": None}}
    raise PayloadError("boom")


task_module.run_notebook = hijacked
"""


def _project(folder: Path, address: str) -> Path:
    write_notebook(folder / "notebooks" / "nb.ipynb", 'reference_date = ""', "print(reference_date)")
    workflows = "".join(
        f"""
[[workflow]]
name = "{name}"
datasets = ["calls"]
max_attempts = 1

  [[workflow.notebook]]
  name = "nb"
  path = "nb.ipynb"
  report = {{ formats = ["html"] }}
"""
        for name in ("evil-result", "evil-raise")
    )
    config = folder / "autoflow.toml"
    config.write_text(f'{PATHS_TOML}\n{FAST_EXECUTION_TOML}\n[inbox]\nsettle = "0.2s"\n{workflows}', encoding="utf-8")
    (folder / "var" / "inbox").mkdir(parents=True)
    return use_dask(config, address)


def _dead(config: Path) -> list[dict] | None:
    runs = json.loads(cli(config, "status", "--json").stdout)
    return runs if len(runs) == 2 and all(r["state"] == "dead" for r in runs) else None


def test_a_crafted_pickle_returned_or_raised_by_a_worker_is_never_unpickled_by_the_daemon(
    tmp_path: Path, cluster: DaskCluster
) -> None:
    pwned = tmp_path / "pwned"
    preload = tmp_path / "hostile_preload.py"
    preload.write_text(PRELOAD.format(pwned=str(pwned)), encoding="utf-8")
    cluster.start_worker(preload=preload)
    cluster.wait_workers(1)
    config = _project(tmp_path, cluster.address)
    daemon = DaemonProcess(config).start(timeout=120)
    try:
        (tmp_path / "var" / "inbox" / "calls_2026-11-24.ready").touch()
        runs = wait_for(lambda: _dead(config), 240, interval=1.0, what="both runs failed")
        assert daemon.process is not None and daemon.process.poll() is None, "the daemon keeps running"
    finally:
        code = daemon.stop()
    ran_in = pwned.read_text().splitlines() if pwned.exists() else []
    assert not [line for line in ran_in if "autoflow_watch run" in line], (
        f"the daemon ran code the worker sent: {ran_in}"
    )
    assert code == 0
    errors = {r["workflow"]: r["error"] for r in runs}
    assert "returned no notebook result" in errors["evil-result"], errors
    assert "does not unpickle" in errors["evil-raise"], errors  # raised: refused, the run failed all the same
    assert daemon.events("dask.pickle_refused"), "the refusal is logged"
