"""Seal the calling process: what a notebook's kernel may read, write, connect to and signal.

Standard library only, and importable by file path: the launcher loads it under the
kernelspec's own interpreter (which need not have autoflow_watch), and a forked kernel
calls :func:`seal` in-process. The policy is plain JSON (see :func:`seal`); this module adds
what every kernel needs to run at all (its interpreter, the system's libraries and
configuration, its own ``/proc`` entry, a few devices) and nothing of the daemon's.

Landlock is an allow list that cannot subtract, so a granted folder that *contains* a
forbidden path (``/etc`` holding the config, a prefix holding the store) is granted
child by child around it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

try:
    from . import landlock
except ImportError:  # loaded by file path (the launcher, under the kernel's own interpreter)
    _spec = importlib.util.spec_from_file_location("_afw_sandbox_landlock", Path(__file__).with_name("landlock.py"))
    assert _spec is not None and _spec.loader is not None
    landlock = importlib.util.module_from_spec(_spec)
    sys.modules[_spec.name] = landlock
    _spec.loader.exec_module(landlock)

SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/sys")
PROC_MACHINE = ("cpuinfo", "meminfo", "stat", "loadavg", "uptime", "version", "filesystems", "sys", "cgroups", "swaps")
DEVICES_READ = ("/dev/urandom", "/dev/random", "/dev/zero", "/dev/full")
DEVICES_WRITE = ("/dev/null", "/dev/shm", "/dev/ptmx", "/dev/pts")
ALWAYS_DENY = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh",
    "/etc/ssl/private",
    "/etc/credstore",
    "/etc/credstore.encrypted",
)
DNS_PORT = 53  # name resolution falls back to TCP for long answers
READ = landlock.FS_READ
WRITE = (1 << 16) - 1  # every file-system right; the ruleset keeps those its ABI handles


def enforced(level: int) -> dict[str, bool]:
    """What Landlock ABI ``level`` lets a seal enforce: files (1), TCP (4), signals and abstract sockets (6)."""
    return {"files": level >= 1, "tcp": level >= 4, "scopes": level >= 6}


def interpreter_paths() -> list[str]:
    """What this interpreter needs to read: its prefixes, its real path and every existing ``sys.path`` entry."""
    here = str(Path(__file__).resolve().parent)
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, os.path.realpath(sys.executable)}
    paths.update(p for p in sys.path if p and os.path.exists(p) and os.path.realpath(p) != here)
    return sorted(paths)


def seal(policy: dict[str, Any]) -> dict[str, Any]:
    """Seal the calling thread and everything it starts afterwards; return what was enforced.

    ``policy`` keys (all optional): ``read`` and ``write`` (paths), ``deny`` (paths never
    granted, even inside a granted folder), ``connect_ports`` and ``bind_ports`` (TCP),
    ``abi`` (use at most this ABI). Call it before any thread starts: Landlock seals only
    the calling thread and its future children. On a host without Landlock it seals nothing
    and says so (``abi`` 0).
    """
    level = landlock.abi()
    if isinstance(policy.get("abi"), int):
        level = min(level, policy["abi"])
    report: dict[str, Any] = {"abi": level, **enforced(level)}
    if level < 1:
        return report
    deny = sorted({os.path.realpath(p) for p in (*ALWAYS_DENY, *policy.get("deny", ())) if _reachable(p)})
    ruleset = landlock.Ruleset(level)
    try:
        _grant_all(ruleset, policy, deny)
        for port in sorted({DNS_PORT, *policy.get("connect_ports", ())}):
            ruleset.allow_port(int(port), landlock.NET_CONNECT_TCP)
        for port in policy.get("bind_ports", ()):
            ruleset.allow_port(int(port), landlock.NET_BIND_TCP)
    except BaseException:
        ruleset.close()
        raise
    ruleset.restrict_self()
    return report


def _grant_all(ruleset: Any, policy: dict[str, Any], deny: list[str]) -> None:
    for path in interpreter_paths():
        _grant(ruleset, path, READ, deny, essential=True)
    for path in SYSTEM_READ:
        _grant(ruleset, path, READ, deny, essential=False)
    for name in PROC_MACHINE:
        _grant(ruleset, f"/proc/{name}", READ, deny, essential=False)
    ruleset.allow_path(f"/proc/{os.getpid()}", READ)  # its own entry only: others' environ stays closed
    for path in DEVICES_READ:
        ruleset.allow_path(path, READ)
    for path in DEVICES_WRITE:
        ruleset.allow_path(path, WRITE)
    # what the policy names is granted even inside a denied folder (a task's folder in a worker's
    # forbidden scratch space); a denied path inside it is still carved out
    for path in policy.get("read", ()):
        _grant(ruleset, path, READ, deny, essential=True)
    for path in policy.get("write", ()):
        _grant(ruleset, path, WRITE, deny, essential=True)


def _reachable(path: str) -> bool:
    """Whether a denied path needs carving out: it exists and this user could open it (a service user
    cannot read /etc/shadow anyway, so /etc is then granted as one rule instead of child by child)."""
    return os.path.lexists(path) and (os.access(path, os.R_OK) or os.access(path, os.W_OK))


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _grant(
    ruleset: Any, path: str, rights: int, deny: list[str], *, essential: bool, depth: int = 0, real: str = ""
) -> None:
    """Grant ``path`` whole, or, when a denied path lies inside it, each of its children but that one."""
    real = real or os.path.realpath(path)
    if real in deny or depth > 32 or not (real and os.path.lexists(real)):
        return
    if not essential and any(_inside(real, d) for d in deny):
        return
    prefix = real.rstrip("/") + "/"
    if not any(d.startswith(prefix) for d in deny):
        ruleset.allow_path(real, rights)
        return
    try:
        children = sorted(os.scandir(real), key=lambda entry: entry.name)
    except OSError:
        return  # a file, or a folder it cannot list: nothing granted around the denied path
    for child in children:  # only links need resolving: a child of a real folder is real
        target = os.path.realpath(child.path) if child.is_symlink() else child.path
        _grant(ruleset, child.path, rights, deny, essential=essential, depth=depth + 1, real=target)
