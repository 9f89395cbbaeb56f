"""Execute one notebook with papermill inside a worker, reporting its kernel's pid at once.

The pid is reported the moment the kernel process exists, before it is even ready, so
the supervising daemon can kill the kernel's process group whatever happens next.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import nbformat
import papermill as pm
from jupyter_client import AsyncKernelManager

from autoflow_watch.executor.job import NotebookJob, RunJob, kernel_log_path, kernel_log_tail

# A long cell's output is saved this often: a run killed mid-cell still shows what it printed.
AUTOSAVE_EVERY_S = 10


class ReportingKernelManager(AsyncKernelManager):
    """An AsyncKernelManager that reports each kernel's pid and talks to it over unix sockets.

    IPC sockets in a private folder instead of TCP ports: no port races between parallel
    kernels (papermill's "kernel didn't respond" under load), nothing listening on the network.
    """

    on_launch: ClassVar[Callable[[int], None] | None] = None
    ipc_dir: ClassVar[str | None] = None
    output_log: ClassVar[Path | None] = None  # the kernel's stdout and stderr: a file, not our logs

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if ReportingKernelManager.ipc_dir:
            self.transport = "ipc"
            self.ip = os.path.join(ReportingKernelManager.ipc_dir, "k")

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        log_path = ReportingKernelManager.output_log
        if log_path is None:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        else:
            with log_path.open("ab") as output:  # the kernel keeps its own copy of the descriptor
                await super()._async_launch_kernel(kernel_cmd, **{**kw, "stdout": output, "stderr": output})
        pid = getattr(self.provisioner, "pid", None)
        if pid and ReportingKernelManager.on_launch is not None:
            ReportingKernelManager.on_launch(int(pid))


@dataclass
class NotebookFailure(Exception):
    """A notebook that did not complete: what went wrong and where, for error.txt and status."""

    error_type: str
    message: str
    cell_index: int | None
    code_ran: bool  # whether any code cell began: only a failure before that may be retried
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.error_type}: {self.message}"


def execute(
    job: RunJob, notebook: NotebookJob, parameters: dict[str, Any], output: Path, on_kernel: Callable[[int], None]
) -> float:
    """Run ``notebook`` to ``output``; return seconds taken or raise NotebookFailure."""
    started = time.monotonic()
    ReportingKernelManager.on_launch = on_kernel
    ReportingKernelManager.output_log = kernel_log_path(job.work_dir, notebook.name)
    ReportingKernelManager.ipc_dir = tempfile.mkdtemp(prefix="afw-")  # short: socket paths max 107 bytes
    try:
        pm.execute_notebook(
            notebook.path,
            str(output),
            parameters=parameters,
            kernel_name=job.kernel,
            progress_bar=False,
            log_output=False,
            cwd=str(Path(notebook.path).parent),  # safe: one notebook at a time in this process
            start_timeout=int(job.kernel_start_timeout_s),
            execution_timeout=max(1, int(job.cell_timeout_s)),
            request_save_on_cell_execute=True,
            autosave_cell_every=AUTOSAVE_EVERY_S,
            kernel_manager_class=ReportingKernelManager,
        )
    except Exception as error:
        failure = _failure(error, output)
        failure.traceback += kernel_log_tail(job.work_dir, notebook.name)
        raise failure from None
    finally:
        ReportingKernelManager.on_launch = None
        ReportingKernelManager.output_log = None
        shutil.rmtree(ReportingKernelManager.ipc_dir, ignore_errors=True)
    return time.monotonic() - started


def _failure(error: Exception, output: Path) -> NotebookFailure:
    error_type = type(error).__name__
    message = str(error).strip()
    ename = getattr(error, "ename", None)
    if ename:  # PapermillExecutionError: report the notebook's own exception
        error_type = str(ename)
        message = str(getattr(error, "evalue", message))
    traceback = "\n".join(getattr(error, "traceback", []) or [])
    if error_type in ("CellTimeoutError", "TimeoutError") and "cell" in message.lower():
        error_type = "CellTimeoutError"
    cell_index, code_ran = _progress(output)
    first_line = message.splitlines()[0] if message else error_type
    return NotebookFailure(error_type, first_line[:2000], cell_index, code_ran, traceback or message)


def _progress(output: Path) -> tuple[int | None, bool]:
    """Where execution stopped, from papermill's cell metadata: (failing cell index, any code ran).

    The failing cell is the one papermill marked failed or left running; a kernel that died
    mid-cell leaves that cell marked completed, so then it is the last cell that started.
    Indexes do not count papermill's error banner.
    """
    try:
        nb = nbformat.read(str(output), as_version=4)
    except Exception:
        return None, False
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.get("metadata", {}).get("tags", [])]
    last_started = None
    code_ran = False
    for index, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("papermill", {})
        if meta.get("exception") or meta.get("status") in ("failed", "running"):
            return index, True
        if meta.get("start_time"):
            last_started = index
            code_ran = code_ran or cell.get("cell_type") == "code"
    return (last_started if code_ran else None), code_ran
