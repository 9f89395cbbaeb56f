"""``validate``: every ``[execution] preload`` module can be imported by the kernelspec's own interpreter."""

from __future__ import annotations

import json
import os
import subprocess

from autoflow_watch.config import Config
from autoflow_watch.executor.kernel_template import kernel_python

CHECK = """\
import importlib, json, sys
for name in json.loads(sys.argv[1]):
    try:
        importlib.import_module(name)
    except BaseException as error:
        print(json.dumps([name, f"{type(error).__name__}: {error}"[:200]]))
        break
"""


def preload_error(config: Config) -> str | None:
    """One line naming the first preload module a kernel's interpreter cannot import, or None."""
    execution = config.app.execution
    if not execution.preload or execution.kernel_start.value != "fork":
        return None
    kernels = sorted({execution.kernel, *(w.kernel for w in config.workflows.values())})
    for kernel in kernels:
        error = _kernel_preload_error(config, kernel)
        if error:
            return error
    return None


def _kernel_preload_error(config: Config, kernel: str) -> str | None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    execution = config.app.execution
    try:
        python = kernel_python(KernelSpecManager().get_kernel_spec(kernel))
    except NoSuchKernel:
        return None  # the kernelspec's own check says so
    if python is None:
        return None  # not an ipykernel: kernels are spawned, preload is not used
    found = subprocess.run(
        [python, "-c", CHECK, json.dumps(execution.preload)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": os.environ.get("MPLBACKEND", "Agg")},
        check=False,
    )
    for line in found.stdout.splitlines():
        name, error = json.loads(line)
        return (
            f"[execution] preload: {name!r} cannot be imported by kernel {kernel!r}'s interpreter"
            f" ({python}): {error}; install it there or remove it from preload"
        )
    if found.returncode != 0:
        return f"[execution] preload: kernel {kernel!r}'s interpreter ({python}) failed: {found.stderr[-200:]}"
    return None
