"""Processes we start (workers, kernels, chromium): make them die with us, and kill them for sure.

Jupyter kernels start in their own session (jupyter_client uses start_new_session), so
each kernel leads a process group holding everything it started; killing that group
(by the pid we recorded, never by name) leaves nothing orphaned.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections.abc import Iterable

PR_SET_PDEATHSIG = 1
# the pid a child expects as its parent: one that finds another was orphaned before it could set PDEATHSIG
PARENT_PID_ENV = "AUTOFLOW_WATCH_PARENT_PID"


SERVICE_UMASK = 0o027  # as the systemd unit's UMask=: group may read, others nothing


def restrict_umask(umask: int = SERVICE_UMASK) -> int:
    """At least ``umask`` for this process and all it starts, under systemd or not; a stricter one stays.

    Reports, run folders, the state store and the inbox's moved markers are then never readable
    by other users, whatever shell the daemon was started from. Returns the umask now in force.
    """
    current = os.umask(0)
    os.umask(current | umask)
    return current | umask


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the thread that started it dies (daemon -9)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def kill_groups(pids: Iterable[int], sig: int = signal.SIGKILL) -> list[int]:
    """Signal the process group led by each pid (falling back to the pid); return those signalled."""
    signalled = []
    for pid in pids:
        if pid <= 1:
            continue
        try:
            os.killpg(pid, sig)
            signalled.append(pid)
        except ProcessLookupError:
            try:
                os.kill(pid, sig)
                signalled.append(pid)
            except ProcessLookupError:
                pass
        except PermissionError:
            pass
    return signalled


def wait_gone(pids: Iterable[int], timeout: float) -> bool:
    """Wait until none of ``pids`` is alive; True when they are all gone."""
    deadline = time.monotonic() + timeout
    remaining = [p for p in pids if p > 1]
    while remaining and time.monotonic() < deadline:
        remaining = [p for p in remaining if alive(p)]
        if remaining:
            time.sleep(0.05)
    return not remaining


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (its leader may be gone), read from /proc."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def started_by_a_kernel(pid: int) -> bool:
    """Whether ``pid`` descends from a Jupyter kernel: it inherited the ``JPY_PARENT_PID`` jupyter_client sets."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return b"\0JPY_PARENT_PID=" in b"\0" + handle.read()
    except OSError:
        return False


PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make orphans below this process (a ``setsid`` double fork included) its children, not init's."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


def _stat_fields(pid: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _parents() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every live process."""
    found = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(entry.name)
            if len(fields) > 2 and fields[0] != "Z":
                found[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return found


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid``, read from /proc."""
    parents = _parents()
    found: list[int] = []
    frontier = {pid}
    while frontier:
        children = {child for child, (parent, _) in parents.items() if parent in frontier and child not in found}
        found += sorted(children)
        frontier = children
    return found


def kill_tree(pid: int) -> list[int]:
    """SIGKILL ``pid``'s process group and every descendant, stopping them first so none forks away meanwhile."""
    stopped: set[int] = set()
    for _ in range(50):  # until a sweep finds nothing new: a stopped process cannot fork
        found = set(descendants(pid)) - stopped
        if not found:
            break
        for child in found:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGSTOP)
        stopped |= found
    for child in stopped:
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)
    kill_groups([pid], signal.SIGKILL)
    return sorted(stopped)


def kill_adopted(keep: Iterable[int]) -> list[int]:
    """SIGKILL and reap this subreaper's adopted orphans: children outside its own process group, not in ``keep``."""
    own, group, kept = os.getpid(), os.getpgrp(), set(keep)
    adopted = [p for p, (parent, pgid) in _parents().items() if parent == own and pgid != group and p not in kept]
    for pid in adopted:
        kill_tree(pid)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
    return adopted
