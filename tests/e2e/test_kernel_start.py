"""A kernel that fails to start is retried once within the same attempt."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from daemon_process import cli
from faulty_project import drop_marker, single_notebook_project

pytestmark = pytest.mark.e2e

FLAKY_LAUNCHER = """\
import os, sys
flag = sys.argv[1]
if not os.path.exists(flag):
    open(flag, "w").close()
    sys.exit(7)  # the first launch dies before the kernel is up
os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *sys.argv[2:]])
"""


def install_flaky_kernel(folder: Path) -> dict[str, str]:
    """A real kernelspec whose first start fails; returns the environment that finds it."""
    spec_dir = folder / "jupyter" / "kernels" / "flaky"
    spec_dir.mkdir(parents=True)
    launcher = folder / "flaky_launcher.py"
    launcher.write_text(FLAKY_LAUNCHER)
    (folder / "flags").mkdir()  # granted to the sealed kernel (write_paths): its flag outlives it
    spec = {
        "argv": [
            sys.executable,
            str(launcher),
            str(folder / "flags" / "first-start-failed"),
            "-f",
            "{connection_file}",
        ],
        "display_name": "Flaky Python",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return {"JUPYTER_PATH": str(folder / "jupyter")}


@pytest.mark.parametrize("kernel_start", ["fork", "spawn"])
@pytest.mark.parametrize("warm_kernels", [0, 1], ids=["started-on-demand", "pre-started"])
def test_kernel_that_fails_to_start_once_is_retried_within_the_attempt(tmp_path, warm_kernels, kernel_start):
    """On demand, papermill's start fails and is retried; pre-started, the dead kernel is replaced."""
    env = install_flaky_kernel(tmp_path)
    settings = f'kernel = "flaky"\nkernel_start_timeout = "20s"\nmax_parallel_runs = 1\nwarm_kernels = {warm_kernels}'
    settings += f'\nkernel_start = "{kernel_start}"  # the flaky kernelspec is not an ipykernel: always spawned'
    config = single_notebook_project(tmp_path, "print('ok')", execution=settings, workflow='write_paths = ["flags"]')
    drop_marker(config)
    result = cli(config, "run", "--once", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "flags" / "first-start-failed").exists(), "the first start really failed"
    [run] = json.loads(cli(config, "status", "--json", env=env).stdout)  # env: the config names that kernel
    assert (run["state"], run["attempts"]) == ("succeeded", 1)
    assert "kernel.start_failed.retrying" in result.stderr
