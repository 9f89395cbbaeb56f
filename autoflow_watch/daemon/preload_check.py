"""Every ``[execution] preload`` module can be imported by the kernelspec's own interpreter.

``validate`` imports them (``deep``); ``run`` only finds them (``importlib.util.find_spec``, a
few milliseconds), so that a missing module stops the start as it stops ``validate`` without
putting a preload's import time on every start's critical path. A module that is found but fails,
hangs or exits at import is reported by the worker once, and its kernels are spawned.
"""

from __future__ import annotations

import json
import os
import subprocess

from autoflow_watch.config import Config
from autoflow_watch.executor.kernel_template import kernel_python

CHECK = """\
import importlib, json, os, sys
verdicts = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # what a module prints at import is not a verdict
import importlib.util
for name in json.loads(sys.argv[1]):
    print(json.dumps(["importing", name, ""]), file=verdicts)
    try:
        if sys.argv[2] == "deep":
            importlib.import_module(name)
        elif importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}")
    except BaseException as error:
        print(json.dumps(["failed", name, f"{type(error).__name__}: {error}"[:200]]), file=verdicts)
        break
"""
IMPORT_TIMEOUT_S = 120.0  # as long as a worker waits for its template to be ready


def preload_error(config: Config, deep: bool = True) -> str | None:
    """One line naming the first preload module a kernel's interpreter cannot import (or find), or None."""
    execution = config.app.execution
    if not execution.preload or execution.kernel_start.value != "fork":
        return None
    kernels = sorted({execution.kernel, *(w.kernel for w in config.workflows.values())})
    for kernel in kernels:
        error = _kernel_preload_error(config, kernel, deep)
        if error:
            return error
    return None


def _kernel_preload_error(config: Config, kernel: str, deep: bool) -> str | None:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    execution = config.app.execution
    try:
        python = kernel_python(KernelSpecManager().get_kernel_spec(kernel))
    except NoSuchKernel:
        return None  # the kernelspec's own check says so
    if python is None:
        return None  # not an ipykernel: kernels are spawned, preload is not used
    where = f"kernel {kernel!r}'s interpreter ({python})"
    try:
        found = subprocess.run(
            [python, "-c", CHECK, json.dumps(execution.preload), "deep" if deep else "find"],
            capture_output=True,
            text=True,
            timeout=IMPORT_TIMEOUT_S,
            env={**os.environ, "MPLBACKEND": os.environ.get("MPLBACKEND", "Agg")},
            check=False,
        )
    except subprocess.TimeoutExpired as late:
        name = _last_module(late.stdout)
        return (
            f"[execution] preload: importing {name!r} in {where} took longer than {IMPORT_TIMEOUT_S:.0f} s;"
            " a module that waits at import cannot be preloaded: remove it from preload"
        )
    for line in found.stdout.splitlines():
        verdict, name, error = json.loads(line)
        if verdict == "failed":
            return (
                f"[execution] preload: {name!r} cannot be imported by {where}: {error};"
                " install it there or remove it from preload"
            )
    if found.returncode != 0:
        return (
            f"[execution] preload: importing {_last_module(found.stdout)!r} ended {where} with exit code"
            f" {found.returncode}: remove it from preload"
        )
    return None


def _last_module(output: str | bytes | None) -> str:
    """The module the check was importing when it stopped (its last ``importing`` line)."""
    text = output.decode(errors="replace") if isinstance(output, bytes) else (output or "")
    names = [json.loads(line)[1] for line in text.splitlines() if line.startswith('["importing"')]
    return names[-1] if names else "?"
