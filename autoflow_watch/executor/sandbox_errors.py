"""A notebook that failed on an access the sandbox blocked: say so, and name the setting that grants it.

The line is appended to the error's message, so it reaches ``error.txt``, ``status``, the
notification (which quotes the error's first line) and the failure page alike.
"""

from __future__ import annotations

import os
import re

from autoflow_watch.executor.job import RunJob

_DENIED = re.compile(r"\[Errno (?:13|1)\] (?:Permission denied|Operation not permitted)(?:: '([^']*)')?")
_NETWORK = ("connect", "socket", "urlopen", "ConnectError", "HTTPConnection", "create_connection")


def sandbox_hint(job: RunJob, error_type: str, message: str, traceback: str) -> str | None:
    """The one-line explanation for a failure the sandbox caused, or None when it was not that."""
    if not job.sandbox.sealed:
        return None
    match = _DENIED.search(message) or _DENIED.search(traceback)
    if match is None and error_type != "PermissionError":
        return None
    where = f"workflow {job.workflow!r}"
    path = match.group(1) if match else None
    if path:
        notebooks = _notebooks(job)
        path = os.path.normpath(os.path.join(notebooks, path))  # relative: to the working folder
        if notebooks and path.startswith(notebooks.rstrip("/") + "/"):
            return (
                f"the notebook sandbox blocked writing {path}: the notebooks folder is read-only to notebooks;"
                " write under tempfile or the run folder (docs/sandbox.md)"
            )
        return (
            f"the notebook sandbox blocked access to {path}: add it (or its folder) to read_paths, or to"
            f" write_paths to write it, in {where} (docs/sandbox.md)"
        )
    if any(word in traceback or word in message for word in _NETWORK):
        return (
            f"the notebook sandbox blocked a TCP connection: add its port to connect_ports in {where} (docs/sandbox.md)"
        )
    return (
        "the notebook sandbox blocked this (a signal or trace of a process the kernel did not start, or a"
        " file outside what it may reach): read_paths, write_paths and connect_ports grant more (docs/sandbox.md)"
    )


def _notebooks(job: RunJob) -> str:
    from pathlib import Path

    return str(Path(job.notebooks[0].path).parent) if job.notebooks else ""
