"""A kernel on a Dask worker is sealed with the worker's own folders (the hostile notebook, reduced).

The worker runs as a throwaway user (a normal, unprivileged one) from another Python
environment than the daemon's: the sandbox launcher runs under that kernelspec's own
interpreter. Unsealed, the same attacks succeed, so the test can fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, wait_for
from dask_cluster import DaskCluster, ThrowawayUser, use_dask
from notebooks import write_notebook
from project_files import make_project

pytestmark = pytest.mark.e2e

PROBE = """\
import errno, json, os, socket, tempfile
import scrapbook as sb
seen = {}
def attempt(name, action):
    try:
        action()
        seen[name] = "succeeded"
    except OSError as error:
        seen[name] = "blocked" if error.errno in (errno.EACCES, errno.EPERM) else "error: " + repr(error)
here = os.getcwd()
attempt("list the other tasks' folders", lambda: os.listdir(os.path.dirname(here)))
attempt("read the worker's home", lambda: os.listdir(os.environ.get("AFW_WORKER_HOME") or "/nonexistent"))
attempt("read /proc/<worker>/environ", lambda: open("/proc/%d/environ" % os.getppid(), "rb").read())
attempt("signal the worker", lambda: os.kill(os.getppid(), 0))
attempt("connect to the scheduler", lambda: socket.create_connection(("127.0.0.1", int(scheduler_port)), 3).close())
attempt("write in its own folder", lambda: open(os.path.join(here, "scratch.txt"), "w").close())
attempt("write a temporary file", lambda: tempfile.NamedTemporaryFile().close())
seen["home"] = os.path.expanduser("~")
seen["uid"] = os.getuid()
sb.glue("seen", seen)
"""
ATTACKS = (
    "list the other tasks' folders",
    "read the worker's home",
    "read /proc/<worker>/environ",
    "signal the worker",
    "connect to the scheduler",
)


@pytest.mark.parametrize("sandbox", ["best-effort", "off"])
def test_a_kernel_on_a_worker_is_sealed_with_the_workers_folders(
    tmp_path: Path, cluster: DaskCluster, other_user: ThrowawayUser, sandbox: str
) -> None:
    (other_user.home / "secret.txt").write_text("the worker user's secret")
    cluster.start_worker(other_user)
    cluster.wait_workers(1)
    make_project(tmp_path)
    write_notebook(
        tmp_path / "notebooks" / "aggregate.ipynb",
        'reference_date = ""\ndate_ranges = []\nregion = "x"\nscheduler_port = 0',
        "import scrapbook as sb\nsb.glue('total', 40 + len(date_ranges))",
        PROBE.replace('os.environ.get("AFW_WORKER_HOME")', repr(str(other_user.home))),
    )
    config = use_dask(tmp_path / "autoflow.toml", cluster.address, f'sandbox = "{sandbox}"')
    config.write_text(
        config.read_text().replace('region = "admin2" }', f'region = "admin2", scheduler_port = {cluster.port} }}')
    )
    daemon = DaemonProcess(config).start()
    try:
        for day in ("2026-11-23", "2026-11-24"):
            (tmp_path / "var" / "inbox" / f"calls_{day}.ready").touch()
        manifest = tmp_path / "var" / "outbox" / "daily" / "2026-11-24" / "manifest.json"
        wait_for(manifest.exists, 240, what="the report published through the sealed worker kernels")
    finally:
        assert daemon.stop() == 0
    import scrapbook as sb

    [executed] = list((tmp_path / "var" / "work" / "daily" / "2026-11-24").glob("*/aggregate.ipynb"))
    seen = sb.read_notebook(str(executed)).scraps["seen"].data
    assert seen["uid"] == other_user.uid
    assert seen["write in its own folder"] == "succeeded" and seen["write a temporary file"] == "succeeded"
    expected = "blocked" if sandbox != "off" else "succeeded"
    assert {name: seen[name] for name in ATTACKS} == dict.fromkeys(ATTACKS, expected), json.dumps(seen)
    assert (seen["home"] == str(other_user.home)) == (sandbox == "off"), "sealed: a private home"
