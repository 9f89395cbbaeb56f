"""Kernels forked from a pre-imported template (kernel_start = "fork"), with the real daemon and real kernels.

A forked kernel must be, to its notebook, a spawned kernel: same working folder, environment,
``sys.path``, limits and seal; its own random state; nothing of an earlier notebook. The
template dies with the daemon, a kernel killed mid-cell takes nothing else with it, and a
template that cannot fork safely is reported once and the worker spawns instead.
"""

from __future__ import annotations

import json
import os

import pytest
from daemon_process import DaemonProcess, alive_pids, cli, cmdline, descendants, wait_for
from test_warm_workers import comparable, drop, kernel_lines, once_one_worker, probe_project, probes

pytestmark = pytest.mark.e2e
# a worker's first kernel boots beside its template (just started, still importing), every later one is a fork
FIRST_SPAWNED_THEN_FORKED = [False, True, True]


def test_a_forked_kernel_sees_what_a_spawned_kernel_sees(tmp_path):
    forked, forked_log = once_one_worker(tmp_path, "fork", 1, 'kernel_start = "fork"\npreload = ["numpy"]')
    spawned, spawned_log = once_one_worker(tmp_path, "spawn", 1, 'kernel_start = "spawn"')
    assert [line["forked"] for line in kernel_lines(forked_log)] == FIRST_SPAWNED_THEN_FORKED
    assert [line["forked"] for line in kernel_lines(spawned_log)] == [False, False, False]
    was_forked = {line["pid"]: line["forked"] for line in kernel_lines(forked_log)}
    assert len(forked) == len(spawned) == 3
    for day in forked:
        f, s = comparable(forked[day], "fork"), comparable(spawned[day], "spawn")
        assert f["cwd"] == s["cwd"]
        assert f["sys_path"] == s["sys_path"]
        assert f["env"] == s["env"], set(f["env"].items()) ^ set(s["env"].items())
        assert forked[day]["limits"] == spawned[day]["limits"]
        assert forked[day]["sandbox"] == spawned[day]["sandbox"] is not None, "sealed alike"
        if was_forked[forked[day]["pid"]]:
            assert forked[day]["parent"] != forked[day]["worker"], "its parent is the template, not the worker"
        else:
            assert forked[day]["parent"] == forked[day]["worker"], "spawned beside the template: the worker's child"
    assert "kernel.fork_unavailable" not in forked_log


def test_forked_kernels_have_their_own_random_state_and_nothing_of_the_last_notebook(tmp_path):
    seen, log = once_one_worker(tmp_path, "fresh", 1, 'kernel_start = "fork"\npreload = ["numpy"]')
    assert [line["forked"] for line in kernel_lines(log)] == FIRST_SPAWNED_THEN_FORKED
    records = list(seen.values())
    forked = [r for r in records if r["parent"] != r["worker"]]
    assert len(forked) == 2 and len({r["pid"] for r in records}) == 3
    assert len({r["random"] for r in forked}) == 2, "random.random() differs between forked kernels"
    assert len({r["numpy_random"] for r in forked}) == 2, "numpy.random.random() differs too"
    for record in records:  # a variable, an env var, a module attribute, a monkeypatch of a preloaded module
        assert record["seen_before"] == {"global": None, "env": None, "module": None, "monkeypatch": None}


IF_FORKED = "if os.getppid() != int(os.environ['JPY_PARENT_PID']):  # a fork: the template is its parent\n"


def test_a_forked_kernel_killed_mid_cell_takes_nothing_else_with_it(tmp_path):
    suicide = (  # the first forked kernel kills itself
        "import signal, time\n"
        f"{IF_FORKED}"
        "    if not os.path.exists(probe_dir + '/killed'):\n"
        "        open(probe_dir + '/killed', 'w').write(reference_date)\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "        time.sleep(30)"
    )
    config = probe_project(
        tmp_path, execution='max_parallel_runs = 1\nmax_attempts = 1\nkernel_start = "fork"', cell_after=suicide
    )
    drop(config, 20, 21, 22)
    result = cli(config, "run", "--once")
    days = {"2026-11-20", "2026-11-21", "2026-11-22"}
    assert set(probes(config)) == days
    killed = (config.parent / "probes" / "killed").read_text()
    outbox = config.parent / "var" / "outbox" / "probe"
    assert not (outbox / killed / "manifest.json").exists()
    assert all((outbox / day / "manifest.json").exists() for day in days - {killed})
    # the lost kernel retires its worker (as in release 2): the new worker's first kernel boots beside its template
    assert [line["forked"] for line in kernel_lines(result.stderr)] == [False, True, False]
    assert "worker.retiring" in result.stderr


def test_daemon_killed_leaves_no_template_and_no_kernel(tmp_path):
    config = probe_project(  # the first run's kernel is spawned and ends; the second is forked and stays busy
        tmp_path,
        execution='max_parallel_runs = 1\nkernel_start = "fork"',
        cell_after=f"import time\n{IF_FORKED}    time.sleep(60)",
    )
    daemon = DaemonProcess(config).start()
    drop(config, 24, 25)
    forked = lambda: [r for r in probes(config).values() if r["parent"] != r["worker"]]  # noqa: E731
    [record] = wait_for(forked, timeout=120, what="the forked kernel's notebook to be running")
    found = wait_for(lambda: (d := descendants(daemon.pid)) and record["parent"] in d and d, timeout=60)
    templates = [p for p in found if b"template.py" in cmdline(p)]
    assert record["parent"] in templates and record["pid"] in found
    daemon.kill9()
    wait_for(lambda: not alive_pids(found), timeout=30, what=f"{alive_pids(found)} to die with the daemon")


THREADED_MODULE = """\
import threading, time
threading.Thread(target=time.sleep, args=(3600,), name="afw-test-preload-thread", daemon=True).start()
"""


def test_a_preload_that_starts_a_thread_makes_the_worker_spawn_and_say_so_once(tmp_path):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "starts_a_thread.py").write_text(THREADED_MODULE)
    config = probe_project(
        tmp_path / "p", execution='max_parallel_runs = 1\nkernel_start = "fork"\npreload = ["starts_a_thread"]'
    )
    drop(config, 20, 21, 22)
    path = os.pathsep.join(filter(None, [str(modules), os.environ.get("PYTHONPATH")]))
    result = cli(config, "run", "--once", env={"PYTHONPATH": path})
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(probes(config)) == 3
    warnings = [line for line in result.stderr.splitlines() if "kernel.fork_unavailable" in line]
    assert len(warnings) == 1, warnings
    assert "started a Python thread (afw-test-preload-thread)" in warnings[0]
    assert [line["forked"] for line in kernel_lines(result.stderr)] == [False, False, False]


def test_a_preload_module_the_kernel_cannot_import_is_a_validate_error(tmp_path):
    config = probe_project(tmp_path, execution='preload = ["json", "afw_no_such_module"]')
    result = cli(config, "validate")
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = [line for line in result.stderr.splitlines() if "preload" in line]
    assert "'afw_no_such_module' cannot be imported by kernel 'python3''s interpreter" in line
    assert "install it there or remove it from preload" in line
    good = probe_project(tmp_path / "good", execution='preload = ["json"]')
    assert cli(good, "validate").returncode == 0


def test_a_missing_preload_module_stops_run_as_it_stops_validate(tmp_path):
    config = probe_project(tmp_path, execution='preload = ["afw_no_such_module"]')
    drop(config, 20)
    result = cli(config, "run", "--once")
    assert result.returncode == 2, result.stderr[-3000:]
    assert "'afw_no_such_module' cannot be imported by kernel 'python3''s interpreter" in result.stderr
    assert not probes(config), "no run started"


def _with_module(tmp_path, name: str, source: str) -> dict[str, str]:
    modules = tmp_path / "modules"
    modules.mkdir(exist_ok=True)
    (modules / f"{name}.py").write_text(source)
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(modules), os.environ.get("PYTHONPATH")]))}


def test_a_preload_that_prints_at_import_still_forks_every_later_kernel(tmp_path):
    env = _with_module(tmp_path, "prints_a_banner", 'print("BANNER " * 500)\n')
    config = probe_project(
        tmp_path / "p", execution='max_parallel_runs = 1\nkernel_start = "fork"\npreload = ["prints_a_banner"]'
    )
    assert cli(config, "validate", env=env).returncode == 0
    drop(config, 20, 21, 22)
    result = cli(config, "run", "--once", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(probes(config)) == 3 and "worker.died" not in result.stderr
    assert [line["forked"] for line in kernel_lines(result.stderr)] == [False, True, True]


def test_a_preload_that_ends_the_interpreter_at_import_is_one_validate_line_naming_it(tmp_path):
    env = _with_module(tmp_path, "exits_at_import", "import os\nos._exit(3)\n")
    config = probe_project(tmp_path / "p", execution='preload = ["json", "exits_at_import"]')
    result = cli(config, "validate", env=env)
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if "preload" in line]
    assert "importing 'exits_at_import'" in line and "exit code 3" in line


def test_a_preload_that_never_finishes_importing_holds_one_kernel_up_briefly_then_kernels_are_spawned(tmp_path):
    env = _with_module(tmp_path, "stuck_at_import", "import time\ntime.sleep(3600)\n")
    execution = 'max_parallel_runs = 1\nrun_timeout = "60s"\nkernel_start = "fork"\npreload = ["stuck_at_import"]'
    config = probe_project(tmp_path / "p", execution=execution)
    drop(config, 20, 21, 22)
    result = cli(config, "run", "--once", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(probes(config)) == 3, "no run waited for the template until run_timeout"
    slow = [line for line in result.stderr.splitlines() if "kernel.template_slow" in line]
    assert len(slow) == 1, slow
    assert [line["forked"] for line in kernel_lines(result.stderr)] == [False, False, False]


OWN_GENERATORS = """\
import random
import numpy
R = random.Random()
G = numpy.random.default_rng()
S = numpy.random.RandomState()
"""
RECORD_GENERATORS = (
    "import json, own_generators as g\n"
    "with open(os.path.join(probe_dir, reference_date + '.gen'), 'w') as out:\n"
    "    json.dump([g.R.random(), float(g.G.random()), float(g.S.random_sample())], out)\n"
)


def test_generators_a_preloaded_module_made_at_import_are_reseeded_in_each_forked_kernel(tmp_path):
    env = _with_module(tmp_path, "own_generators", OWN_GENERATORS)
    config = probe_project(
        tmp_path / "p",
        execution='max_parallel_runs = 1\nkernel_start = "fork"\npreload = ["own_generators"]',
        cell_after=RECORD_GENERATORS,
    )
    drop(config, 20, 21, 22)
    result = cli(config, "run", "--once", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [line["forked"] for line in kernel_lines(result.stderr)] == FIRST_SPAWNED_THEN_FORKED
    values = [json.loads(p.read_text()) for p in sorted((config.parent / "probes").glob("*.gen"))]
    assert len(values) == 3
    for kind, name in enumerate(("random.Random()", "numpy default_rng()", "numpy RandomState()")):
        assert len({v[kind] for v in values}) == 3, f"{name} made at import repeats between kernels"
