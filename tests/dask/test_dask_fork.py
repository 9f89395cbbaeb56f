"""Dask notebooks get forked kernels too: from the worker plugin's template, a fresh one per notebook.

The real daemon, a real scheduler and one real ``dask worker`` (one thread); three runs of a
one-notebook workflow, one after the other. The worker's first notebook does not wait for the
template to import ipykernel (its kernel is spawned beside it); the next two are forks of that
one template, each a new process that sees nothing of the notebook before it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from daemon_process import DaemonProcess, wait_for
from dask_cluster import DaskCluster, use_dask
from notebooks import write_notebook
from project_files import FAST_EXECUTION_TOML, one_notebook_config

pytestmark = [pytest.mark.e2e, pytest.mark.dask]

PROBE = """\
import json, os, scrapbook as sb
sb.glue("kernel", {
    "pid": os.getpid(), "parent": os.getppid(), "worker": int(os.environ["JPY_PARENT_PID"]),
    "seen_before": globals().get("left_by_an_earlier_run"),
})
left_by_an_earlier_run = reference_date
"""
DAYS = ("2026-11-20", "2026-11-21", "2026-11-22")


def _project(folder: Path, address: str) -> Path:
    write_notebook(folder / "notebooks" / "probe.ipynb", 'reference_date = ""', PROBE)
    (folder / "var" / "inbox").mkdir(parents=True)
    execution = FAST_EXECUTION_TOML.replace("max_parallel_runs = 2", "max_parallel_runs = 1")
    config = one_notebook_config(folder, execution)
    return use_dask(config, address, 'kernel_start = "fork"')


def _kernel_record(project: Path, day: str) -> dict:
    import scrapbook as sb

    work = next((project / "var" / "work" / "probe" / day).iterdir())
    return dict(sb.read_notebook(str(work / "probe.ipynb")).scraps["kernel"].data)


def _parent_of(pid: int) -> tuple[int, bytes]:
    parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return parent, Path(f"/proc/{pid}/cmdline").read_bytes()


def test_a_dask_notebooks_kernel_is_a_fresh_fork_of_the_worker_plugins_template(
    tmp_path: Path, cluster: DaskCluster
) -> None:
    cluster.start_worker()
    cluster.wait_workers(1)
    config = _project(tmp_path, cluster.address)
    daemon = DaemonProcess(config).start()
    try:
        for day in DAYS:  # one after the other: the first one's kernel is started before the template is up
            (tmp_path / "var" / "inbox" / f"calls_{day}.ready").touch()
            manifest = tmp_path / "var" / "outbox" / "probe" / day / "manifest.json"
            wait_for(manifest.exists, 180, what=f"the run of {day} through the Dask worker")
        records = [_kernel_record(tmp_path, day) for day in DAYS]
        [dask_worker] = {record["worker"] for record in records}
        assert dask_worker in cluster.processes_of_workers()
        first, *later = records
        assert first["parent"] == dask_worker, "the worker's first kernel is spawned beside the template"
        [template] = {record["parent"] for record in later}
        assert template != dask_worker, "the later kernels are forks, of one template"
        parent, command = _parent_of(template)
        assert parent == dask_worker and b"sandbox/template.py" in command, "the template the worker plugin started"
        assert len({record["pid"] for record in records}) == 3, "a fresh kernel per notebook"
        assert [record["seen_before"] for record in records] == [None, None, None]
    finally:
        assert daemon.stop() == 0
