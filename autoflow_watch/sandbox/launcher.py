"""Seal this process, then become the kernel: ``python launcher.py POLICY.json -- COMMAND…``.

Run by file path under the kernelspec's own interpreter (standard library only; it never
imports autoflow_watch, which that interpreter may not have). ``COMMAND`` is the
kernelspec's whole command. When it names this interpreter, ``-m ipykernel_launcher -f
CONN`` (or a script) runs in this very process after sealing: no second interpreter
start-up. Anything else is exec'd (Landlock survives ``execve``). The policy file is read,
then removed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import runpy
import shutil
import sys
from pathlib import Path
from typing import Any


def _load_seal():  # type: ignore[no-untyped-def]
    if "_afw_sandbox_seal" in sys.modules:  # a kernel template loaded it before forking
        return sys.modules["_afw_sandbox_seal"]
    spec = importlib.util.spec_from_file_location("_afw_sandbox_seal", Path(__file__).with_name("seal.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _keep_orphans() -> None:
    """Become a subreaper: whatever the kernel starts stays below it (setsid too), so it is killed with it."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: launcher.py POLICY.json -- COMMAND...\n")
        raise SystemExit(2)
    policy_file, command = argv[0], argv[2:]
    with open(policy_file, encoding="utf-8") as handle:
        policy = json.load(handle)
    os.unlink(policy_file)
    if sys.path and os.path.realpath(sys.path[0]) == str(Path(__file__).resolve().parent):
        sys.path.pop(0)  # the launcher's folder is no business of the notebook
    become_kernel(policy, command)


def become_kernel(policy: dict[str, Any], command: list[str]) -> None:
    """Seal this process with ``policy`` and run the kernel ``command`` (here, or by ``execv``).

    The one way a kernel is sealed and started, whether this process was spawned by the worker
    or forked from a kernel template (``template.py``).
    """
    executable = shutil.which(command[0]) or command[0]
    here = os.path.realpath(executable) == os.path.realpath(sys.executable)
    _keep_orphans()
    report = _load_seal().seal(policy) if policy else None
    if report is None:  # sandbox = "off": a forked kernel runs unsealed, as a spawned one would
        pass
    elif policy.get("required") and not (report["files"] and report["tcp"] and report["scopes"]):
        sys.stderr.write(  # a Dask worker host without Landlock: the kernel refuses to run unsealed
            f'autoflow-watch: sandbox = "required" but this host enforces only {report} (Landlock ABI'
            f" {report['abi']}; files, TCP and signals need Linux 6.12): the kernel does not start\n"
        )
        raise SystemExit(3)
    else:
        os.environ["AUTOFLOW_WATCH_SANDBOX"] = json.dumps(report, separators=(",", ":"))
    args = command[1:]
    if here and len(args) > 1 and args[0] == "-m":  # ``python -m module``: in this very process
        sys.argv = [args[1], *args[2:]]
        sys.path.insert(0, os.getcwd())  # as ``python -m`` would have it
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif here and args and not args[0].startswith("-"):  # ``python script.py``: in this process too
        sys.argv = list(args)
        sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
        runpy.run_path(args[0], run_name="__main__")
    else:
        os.execv(executable, command)  # anything else: Landlock survives execve


if __name__ == "__main__":
    main(sys.argv[1:])
