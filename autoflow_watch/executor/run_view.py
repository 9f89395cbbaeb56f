"""A sealed kernel's view of its run folder: the upstream notebooks copied in, what it wrote copied out.

A pre-started kernel is sealed before anyone knows which run it will serve, and Landlock
grants folders, not names to come; so locally a sealed kernel reads and writes the
``run/`` folder of its own private folder. The worker copies the executed upstream
notebooks there (copies, never links: the kernel cannot touch the run's real files) and,
once the notebook has ended, copies back the regular files it wrote — opened without
following links, anything else (links, devices, FIFOs, huge files) left behind.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

MAX_FILE_BYTES = 1 << 30
MAX_FILES = 10_000


def stage_upstream(parameters: dict[str, Any], executed: list[Path], view: Path) -> dict[str, Any]:
    """``parameters`` with each executed upstream path replaced by the path of its copy in ``view``."""
    by_path = {str(path): path for path in executed}
    staged: dict[str, Any] = {}
    for name, value in parameters.items():
        if isinstance(value, str) and value in by_path:
            target = view / by_path[value].name
            shutil.copyfile(by_path[value], target)
            staged[name] = str(target)
        else:
            staged[name] = value
    return staged


def collect_written(view: Path, run_folder: Path, staged: dict[str, Any]) -> list[str]:
    """Copy the regular files the kernel wrote under ``view`` into ``run_folder`` (existing names kept); their names."""
    copies = {str(v) for v in staged.values() if isinstance(v, str)}
    taken: list[str] = []
    for root, dirs, files in os.walk(view, followlinks=False):
        for name in files:
            source = Path(root) / name
            relative = source.relative_to(view)
            target = run_folder / relative
            if str(source) in copies or target.exists() or len(taken) >= MAX_FILES:
                continue
            if copy_regular(source, target):
                taken.append(str(relative))
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
    return taken


def copy_regular(source: Path, target: Path) -> bool:
    """Copy ``source`` to a new file ``target`` if it is a regular file (no link followed); whether it was."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(fd, "rb", closefd=False) as reader, open(target, "xb") as writer:
            shutil.copyfileobj(reader, writer)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
