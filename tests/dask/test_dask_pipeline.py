"""The real daemon with a real Dask scheduler and two workers: notebooks run there, reports are published here."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, descendants, wait_for
from dask_cluster import DaskCluster, ThrowawayUser, use_dask
from notebooks import write_notebook
from project_files import make_project

pytestmark = [pytest.mark.e2e, pytest.mark.dask]

WHERE = """\
import os, scrapbook as sb
sb.glue("where", {"pid": os.getpid(), "ppid": os.getppid(), "cwd": os.getcwd(), "uid": os.getuid()})
"""


def _dask_project(folder: Path, address: str) -> Path:
    make_project(folder)
    write_notebook(
        folder / "notebooks" / "aggregate.ipynb",
        'reference_date = ""\ndate_ranges = []\nregion = "x"',
        "import scrapbook as sb\nsb.glue('total', 40 + len(date_ranges))",
        WHERE,
    )
    return use_dask(folder / "autoflow.toml", address)


def _scraps(path: Path) -> dict:
    import scrapbook as sb

    return {name: scrap.data for name, scrap in sb.read_notebook(str(path)).scraps.items()}


def _publish_two_days(project: Path, daemon: DaemonProcess) -> list[dict]:
    for day in ("2026-11-23", "2026-11-24"):
        (project / "var" / "inbox" / f"calls_{day}.ready").touch()
    manifest = project / "var" / "outbox" / "daily" / "2026-11-24" / "manifest.json"
    wait_for(manifest.exists, 180, what="the report published through the Dask workers")
    return [json.loads(manifest.read_text())]


def test_a_dag_with_scrapbook_data_publishes_through_the_workers(tmp_path: Path, cluster: DaskCluster) -> None:
    cluster.start_worker()
    cluster.start_worker()
    cluster.wait_workers(2)
    config = _dask_project(tmp_path, cluster.address)
    daemon = DaemonProcess(config).start()
    try:
        [manifest] = _publish_two_days(tmp_path, daemon)
        folder = tmp_path / "var" / "outbox" / "daily" / "2026-11-24"
        # 40 + one date range, glued by aggregate on one worker, read by report on a worker
        assert "is <strong>41000</strong> calls" in (folder / "report.html").read_text()
        assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
        assert [nb["name"] for nb in manifest["notebooks"]] == ["aggregate", "report"]
        work = next((tmp_path / "var" / "work" / "daily" / "2026-11-24").iterdir())
        where = _scraps(work / "aggregate.ipynb")["where"]
        worker_side = cluster.processes_of_workers()
        assert where["ppid"] in worker_side, "the kernel's parent is a Dask worker process"
        daemon_side = [daemon.pid, *descendants(daemon.pid)]
        assert where["pid"] not in daemon_side and where["ppid"] not in daemon_side
        assert not where["cwd"].startswith(str(tmp_path)), "the kernel works in a private folder of the worker"
        assert (work / "aggregate.kernel.log").exists(), "the kernel's log came back with the notebook"
    finally:
        assert daemon.stop() == 0


def test_workers_running_as_another_user_who_cannot_read_the_daemons_folders(
    tmp_path: Path, cluster: DaskCluster, other_user: ThrowawayUser
) -> None:
    cluster.start_worker(user=other_user)
    cluster.wait_workers(1)
    config = _dask_project(tmp_path, cluster.address)
    mode = stat.S_IMODE(os.stat(tmp_path).st_mode)
    os.chmod(tmp_path, 0o700)  # the daemon's folders: nobody else may even look inside
    daemon = DaemonProcess(config).start()
    try:
        _publish_two_days(tmp_path, daemon)
        work = next((tmp_path / "var" / "work" / "daily" / "2026-11-24").iterdir())
        assert _scraps(work / "aggregate.ipynb")["where"]["uid"] == other_user.uid
    finally:
        assert daemon.stop() == 0
        os.chmod(tmp_path, mode)
