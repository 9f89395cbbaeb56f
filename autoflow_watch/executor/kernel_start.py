"""A kernel that fails to start is tried once more within the attempt, wherever the notebook runs.

Only a start failure is retried: once a cell ran, running the notebook again could repeat its
side effects, so every other failure is the notebook's.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from autoflow_watch.executor.notebook_run import NotebookFailure
from autoflow_watch.executor.warm_kernels import Kernel

T = TypeVar("T")


def with_start_retry(run: Callable[[], T], log: Any) -> T:
    """``run()`` (one execution in a fresh kernel), and once more if its kernel failed to start."""
    try:
        return run()
    except NotebookFailure as failure:
        if failure.code_ran or not looks_like_start_failure(failure):
            raise  # a cell ran: running the notebook again could repeat its side effects
        log.warning("kernel.start_failed.retrying", error=str(failure))
        return run()


def looks_like_start_failure(failure: NotebookFailure) -> bool:
    text = f"{failure.error_type} {failure.message}".lower()
    return any(
        word in text
        for word in (
            "kernel didn't respond",
            "kernel died",
            "no such kernel",
            "timeout waiting for kernel",
            "kernel_info",
        )
    )


def adopt_log(kernel: Kernel, target: Path) -> None:
    """Give the kernel's output file the notebook's name in the run folder (a hard link: it keeps writing)."""
    try:
        target.unlink(missing_ok=True)
        os.link(kernel.log_path, target)
    except OSError:  # another filesystem: a copy at the end would lose a killed run's last words; link or keep
        target.write_bytes(kernel.log_path.read_bytes() if kernel.log_path.exists() else b"")
