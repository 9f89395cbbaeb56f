"""Replacing a whole directory in one atomic step: ``renameat2(RENAME_EXCHANGE)``, or a symlink.

A report folder must change for readers in one step: the old complete report, then the new
one, never neither, never a mix. Linux can exchange two names atomically
(``renameat2(…, RENAME_EXCHANGE)``, since 3.15, on ext4, xfs, btrfs, tmpfs…), which is what
:func:`exchange` calls through ``ctypes``. NFS and SMB clients answer ``EINVAL`` (and old
kernels or seccomp filters ``ENOSYS``/``EPERM``): there the report folder is a relative
symbolic link to a hidden version folder beside it, and a new version is swapped in by renaming
a new link over the old one, which is atomic on every filesystem that has symlinks. Both are
described, with their one remaining window, in docs/operations.md ("Publishing exactly once").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import errno
import os
import uuid
from pathlib import Path
from typing import Any

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
# what a filesystem, kernel or sandbox says when it cannot exchange: then fall back
UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EPERM, errno.EXDEV}


class SwapMode(str, enum.Enum):
    """How a folder was put in place."""

    NEW = "new"  # nothing was there: a plain rename
    EXCHANGE = "exchange"  # renameat2(RENAME_EXCHANGE): the old folder is now at the source's name
    SYMLINK = "symlink"  # a new link renamed over the old link (or, once, over a real folder)
    ASIDE = "aside"  # no exchange, no symlinks: renamed aside, then in (a moment with neither)


def _renameat2() -> Any:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _renameat2()


def renameat2(source: Path, target: Path, flags: int) -> None:
    """``renameat2(2)``; raises ``OSError`` (``ENOSYS`` where the C library lacks it)."""
    if _RENAMEAT2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available", str(source))
    if _RENAMEAT2(AT_FDCWD, os.fsencode(source), AT_FDCWD, os.fsencode(target), flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(source), None, str(target))


def exchange(source: Path, target: Path) -> None:
    """Swap two existing names atomically; ``OSError`` with an :data:`UNSUPPORTED` errno where impossible."""
    renameat2(source, target, RENAME_EXCHANGE)


_SUPPORT: dict[int, bool] = {}


def exchange_supported(folder: Path) -> bool:
    """Whether the filesystem of ``folder`` exchanges names (probed once per filesystem, with two empty folders)."""
    device = folder.stat().st_dev
    if device not in _SUPPORT:
        probe = uuid.uuid4().hex
        first, second = folder / f".probe-{probe}-a", folder / f".probe-{probe}-b"
        try:
            first.mkdir()
            second.mkdir()
            exchange(first, second)
            _SUPPORT[device] = True
        except OSError as error:
            if error.errno not in UNSUPPORTED:
                raise
            _SUPPORT[device] = False
        finally:
            for path in (first, second):
                if path.is_dir():
                    path.rmdir()
    return _SUPPORT[device]


def version_name(folder_name: str, run_id: str) -> str:
    """The hidden folder a report link points to: ``.<date>@<run_id>``, beside the link."""
    return f".{folder_name}@{run_id}"


def link_target(target: Path) -> str | None:
    """The version folder name ``target`` links to, or None when it is a real folder or absent."""
    try:
        return os.readlink(target)
    except OSError:
        return None


def swap_by_link(source: Path, target: Path, run_id: str, aside: Path) -> tuple[SwapMode, Path | None]:
    """Put ``source`` in place as a version folder and link ``target`` to it; return what to discard.

    A real folder at ``target`` (published where exchange worked, or by release 2) is moved to
    ``aside`` and the link renamed in: the one moment a reader finds no folder, once per folder.
    """
    version = target.parent / version_name(target.name, run_id)
    if source != version:
        os.rename(source, version)
    link = target.parent / f"{version.name}.link-{uuid.uuid4().hex[:8]}"
    old = link_target(target)
    try:
        os.symlink(version.name, link)
    except OSError as error:
        if error.errno not in UNSUPPORTED:
            raise
        return _swap_aside(version, target, aside)
    try:
        os.rename(link, target)
    except OSError as error:  # a real folder is there (EISDIR, ENOTEMPTY, EEXIST): move it aside once
        if error.errno not in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            link.unlink(missing_ok=True)
            raise
        os.rename(target, aside)
        os.rename(link, target)
        return SwapMode.SYMLINK, aside
    if old is not None and old != version.name and "/" not in old:
        return SwapMode.SYMLINK, target.parent / old
    return SwapMode.SYMLINK, None


def _swap_aside(source: Path, target: Path, aside: Path) -> tuple[SwapMode, Path | None]:
    """Last resort, for a filesystem with neither exchange nor symlinks: the old folder aside, the new in."""
    moved = False
    if target.exists() or target.is_symlink():
        os.rename(target, aside)
        moved = True
    os.rename(source, target)
    return SwapMode.ASIDE, aside if moved else None
