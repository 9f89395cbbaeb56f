"""Long-lived workers and pre-started kernels, with the real daemon, real workers and real kernels.

A warm kernel must be indistinguishable from one started on demand; nothing may pass from
one notebook to the next; and every process the pool keeps, idle or busy, dies with the daemon.
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, alive_pids, cli, cmdline, descendants, kernels_among, wait_for
from notebooks import write_notebook
from project_files import FAST_EXECUTION_TOML, one_notebook_config

pytestmark = pytest.mark.e2e
KERNEL_STARTS = pytest.mark.parametrize("kernel_start", ["fork", "spawn"])

# What a kernel can see of where and how it was started, written where the test can read it.
PROBE = """\
import json, os, random, resource, sys
import numpy
seen_before = {
    "global": globals().get("left_by_an_earlier_run"),
    "env": os.environ.get("AFW_LEFT_BY_AN_EARLIER_RUN"),
    "module": getattr(json, "left_by_an_earlier_run", None),
    "monkeypatch": getattr(numpy.random.random, "left_by_an_earlier_run", None),
}
left_by_an_earlier_run = run_id
os.environ["AFW_LEFT_BY_AN_EARLIER_RUN"] = run_id
json.left_by_an_earlier_run = run_id
_random = numpy.random.random
numpy.random.random = lambda *a: _random(*a)
numpy.random.random.left_by_an_earlier_run = run_id
limits = {name: resource.getrlimit(getattr(resource, name)) for name in ("RLIMIT_NOFILE", "RLIMIT_AS", "RLIMIT_NPROC")}
record = {
    "cwd": os.getcwd(), "sys_path": sys.path, "env": dict(os.environ), "limits": limits,
    "pid": os.getpid(), "worker": int(os.environ["JPY_PARENT_PID"]), "seen_before": seen_before,
    "executable": sys.executable, "random": random.random(), "numpy_random": float(_random()),
    "sandbox": os.environ.get("AUTOFLOW_WATCH_SANDBOX"), "parent": os.getppid(),
}
with open(os.path.join(probe_dir, reference_date + ".part"), "w") as out:
    json.dump(record, out)
os.replace(os.path.join(probe_dir, reference_date + ".part"), os.path.join(probe_dir, reference_date + ".json"))
"""


def probe_project(folder: Path, execution: str = "", cell_after: str = "") -> Path:
    """A one-notebook workflow ``probe`` whose kernel records what it sees into ``folder/probes``.

    ``execution``: lines that replace or extend the test defaults of ``[execution]``.
    """
    (folder / "probes").mkdir(parents=True)
    cells = [PROBE, cell_after] if cell_after else [PROBE]
    write_notebook(folder / "notebooks" / "probe.ipynb", 'reference_date = ""\nrun_id = ""\nprobe_dir = ""', *cells)
    workflow = f'parameters = {{ probe_dir = "{folder / "probes"}" }}\nwrite_paths = ["probes"]'
    config = one_notebook_config(folder, _execution(execution), workflow)
    (folder / "var" / "inbox").mkdir(parents=True)
    return config


def _execution(settings: str) -> str:
    lines = FAST_EXECUTION_TOML.splitlines()
    for line in filter(None, (raw.strip() for raw in settings.splitlines())):
        key = line.split("=", 1)[0].strip()
        lines = [existing for existing in lines if not existing.startswith(f"{key} =")] + [line]
    return "\n".join(lines) + "\n"


def drop(config: Path, *days: int) -> None:
    for day in days:
        (config.parent / "var" / "inbox" / f"calls_2026-11-{day:02d}.ready").touch()


def probes(config: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((config.parent / "probes").glob("*.json"))}


def kernel_lines(daemon_or_stderr: DaemonProcess | str) -> list[dict]:
    if isinstance(daemon_or_stderr, DaemonProcess):
        return daemon_or_stderr.events("notebook.kernel")
    lines = [json.loads(line) for line in daemon_or_stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "notebook.kernel"]


def comparable(record: dict, project: str) -> dict:
    """What must be equal between two kernels: everything but the pids of the kernel and its worker.

    The two projects live in folders named ``warm`` and ``cold``; paths are compared without that name.
    """

    def local(text: str) -> str:  # and each sealed kernel's private folder has a fresh name
        return re.sub(r"/afw-k-[a-z0-9_]+", "/<private>", text.replace(f"/{project}/", "/<project>/"))

    env = {k: local(v) for k, v in record["env"].items() if k not in ("JPY_PARENT_PID", "AFW_LEFT_BY_AN_EARLIER_RUN")}
    return {"cwd": local(record["cwd"]), "sys_path": [local(p) for p in record["sys_path"]], "env": env}


def once_one_worker(tmp_path: Path, name: str, warm: int, execution: str = "") -> tuple[dict[str, dict], str]:
    config = probe_project(tmp_path / name, execution=f"warm_kernels = {warm}\nmax_parallel_runs = 1\n{execution}")
    drop(config, 20, 21, 22)
    result = cli(config, "run", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    return probes(config), result.stderr


@KERNEL_STARTS
def test_a_warm_kernel_sees_what_a_kernel_started_on_demand_sees(tmp_path, kernel_start):
    warm, warm_log = once_one_worker(tmp_path, "warm", 1, f'kernel_start = "{kernel_start}"')
    cold, cold_log = once_one_worker(tmp_path, "cold", 0, f'kernel_start = "{kernel_start}"')
    assert [line["warm"] for line in kernel_lines(warm_log)] == [True, True, True], "every run got a ready kernel"
    assert [line["warm"] for line in kernel_lines(cold_log)] == [False, False, False], "warm_kernels = 0: on demand"
    forked = [False, True, True] if kernel_start == "fork" else [False, False, False]  # fork: the 1st boots beside
    assert [line["forked"] for line in kernel_lines(warm_log)] == [line["forked"] for line in kernel_lines(cold_log)]
    assert [line["forked"] for line in kernel_lines(warm_log)] == forked, "its template, the rest are its forks"
    assert len(warm) == len(cold) == 3
    for day in warm:
        w, c = comparable(warm[day], "warm"), comparable(cold[day], "cold")
        assert w["cwd"] == c["cwd"] == "/".join([*str(tmp_path).split("/"), "<project>", "notebooks"])
        assert w["sys_path"] == c["sys_path"]
        assert set(w["env"]) == set(c["env"]), set(w["env"]) ^ set(c["env"])
        assert w["env"] == c["env"]
        assert warm[day]["limits"] == cold[day]["limits"]
        assert "FLOWAPI_TOKEN" not in w["env"]


@KERNEL_STARTS
def test_nothing_set_by_one_run_is_visible_in_the_next(tmp_path, kernel_start):
    seen, _ = once_one_worker(tmp_path, "leak", 1, f'kernel_start = "{kernel_start}"')
    assert len({record["worker"] for record in seen.values()}) == 1, "one worker served every run"
    assert len({record["pid"] for record in seen.values()}) == 3, "each run had a kernel of its own"
    for record in seen.values():
        assert record["seen_before"] == {"global": None, "env": None, "module": None, "monkeypatch": None}


def test_worker_max_runs_replaces_a_worker_after_that_many_runs(tmp_path):
    config = probe_project(tmp_path, execution="max_parallel_runs = 1\nworker_max_runs = 2")
    drop(config, 20, 21, 22, 23, 24)
    result = cli(config, "run", "--once")
    assert result.returncode == 0, result.stderr[-3000:]
    workers = [record["worker"] for record in probes(config).values()]
    assert workers[0] == workers[1] != workers[2] == workers[3] != workers[4], workers
    assert "worker.retiring" in result.stderr


def pool_processes(daemon: DaemonProcess, at_least: int) -> list[int]:
    return wait_for(lambda: (found := descendants(daemon.pid)) and len(found) >= at_least and found, timeout=90)


@KERNEL_STARTS
def test_daemon_killed_with_idle_and_busy_warm_workers_leaves_nothing_alive(tmp_path, kernel_start):
    config = probe_project(tmp_path, f'kernel_start = "{kernel_start}"', cell_after="import time\ntime.sleep(60)")
    daemon = DaemonProcess(config).start()
    drop(config, 24)
    wait_for(lambda: probes(config), timeout=90, what="the busy run's kernel to be running its notebook")
    # two workers, the busy one's kernel and the next warm kernel of each: five at least
    processes = pool_processes(daemon, at_least=5)
    daemon.kill9()
    wait_for(lambda: not alive_pids(processes), timeout=20, what=f"{alive_pids(processes)} to die with the daemon")


def worker_running_the_notebook(config: Path) -> int:
    """The worker process whose kernel is running the probe (a kernel's parent is its worker)."""
    [record] = wait_for(lambda: list(probes(config).values()), timeout=90, what="the notebook to be running")
    return int(record["worker"])


def test_a_worker_killed_mid_run_fails_that_attempt_once_and_the_pool_recovers(tmp_path):
    config = probe_project(
        tmp_path, cell_after="import time\ntime.sleep(3 if os.path.exists(probe_dir + '/again') else 60)"
    )
    daemon = DaemonProcess(config).start()
    try:
        drop(config, 24)
        victim = worker_running_the_notebook(config)
        assert victim in descendants(daemon.pid)
        (config.parent / "probes" / "again").touch()  # the retry sleeps 3 s only
        os.kill(victim, signal.SIGKILL)
        manifest = config.parent / "var" / "outbox" / "probe" / "2026-11-24" / "manifest.json"
        wait_for(manifest.exists, timeout=120, what="the retry's report")
        drop(config, 25)
        later = config.parent / "var" / "outbox" / "probe" / "2026-11-25" / "manifest.json"
        wait_for(later.exists, timeout=120, what="a later run on the replaced pool")
    finally:
        assert daemon.stop() == 0
    runs = {r["reference_date"]: r for r in json.loads(cli(config, "status", "--json").stdout)}
    assert (runs["2026-11-24"]["state"], runs["2026-11-24"]["attempts"]) == ("succeeded", 2)
    failure = next((config.parent / "var" / "outbox" / "_failed" / "probe" / "2026-11-24").glob("*/error.txt"))
    assert "WorkerDied" in failure.read_text()
    assert daemon.events("worker.died")


def pool_of(daemon: DaemonProcess) -> tuple[list[int], list[int]]:
    """(workers, kernels) below the daemon: workers by their command line, kernels by ``kernels_among``."""
    below = descendants(daemon.pid)
    workers = [pid for pid in below if b"autoflow_watch.executor.local.worker" in cmdline(pid)]
    return workers, kernels_among(below)


def test_sighup_resizes_the_pool_and_applies_warm_kernels(tmp_path):
    config = probe_project(tmp_path, execution="max_parallel_runs = 2\nwarm_kernels = 1")
    daemon = DaemonProcess(config).start()
    try:
        wait_for(lambda: pool_of(daemon) if [len(x) for x in pool_of(daemon)] == [2, 2] else None, timeout=90)
        config.write_text(config.read_text().replace("max_parallel_runs = 2", "max_parallel_runs = 1"))
        config.write_text(config.read_text().replace("warm_kernels = 1", "warm_kernels = 0"))
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: [len(x) for x in pool_of(daemon)] == [1, 0], timeout=90, what="one worker, no idle kernel")
        drop(config, 24)
        manifest = config.parent / "var" / "outbox" / "probe" / "2026-11-24" / "manifest.json"
        wait_for(manifest.exists, timeout=90, what="a run on the resized pool")
    finally:
        assert daemon.stop() == 0
    assert [line["warm"] for line in kernel_lines(daemon)] == [False], "warm_kernels = 0 after the reload"


def test_what_a_notebook_started_is_killed_when_the_next_start_recovers_its_run(tmp_path):
    """kill -9 takes down daemon, worker and kernel at once; a child of the kernel is left to the next start."""
    child = (
        "import subprocess\nchild = subprocess.Popen(['sleep', '300'])\n"
        "open(probe_dir + '/child', 'w').write(str(child.pid))"
    )
    config = probe_project(tmp_path, cell_after=child + "\nimport time\ntime.sleep(60)")
    daemon = DaemonProcess(config).start()
    drop(config, 24)
    pid_file = config.parent / "probes" / "child"
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=90, what="the notebook's child process")
    sleeper = int(pid_file.read_text())
    daemon.kill9()
    assert alive_pids([sleeper]) == [sleeper], "nothing kills a kernel's child when the daemon is killed"
    restarted = DaemonProcess(config).start()
    try:
        wait_for(lambda: not alive_pids([sleeper]), timeout=30, what="the orphan to be killed by recovery")
        assert restarted.events("run.orphan_processes_killed")
    finally:
        assert restarted.stop() == 0  # SIGTERM kills the retry's kernel with its process group, child included
