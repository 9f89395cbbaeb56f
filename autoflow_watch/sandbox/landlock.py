"""Landlock, the Linux security module, through its three system calls (ctypes, standard library only).

This module must import under any Python 3.9+ interpreter without autoflow_watch installed:
a kernelspec's own interpreter (another virtual environment) loads it by file path before it
seals itself. Nothing here is specific to notebooks: it only knows Landlock's ABI.

Rights a ruleset does not *handle* stay allowed, so every call asks the host which ABI it
offers and handles exactly what that ABI knows (best effort on older kernels).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat

# the same numbers on every architecture (asm-generic and x86_64 alike)
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2
PR_SET_NO_NEW_PRIVS = 38
ABI_ENV = "AUTOFLOW_WATCH_LANDLOCK_ABI"  # tests only: pretend the host offers at most this ABI

# file-system rights (ABI 1 unless noted)
FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
FS_READ = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV  # what a file rule may hold


class LandlockError(OSError):
    """A Landlock system call failed (other than "not offered here", which :func:`abi` reports as 0)."""


class _RulesetAttr(ctypes.Structure):
    """``struct landlock_ruleset_attr``: what a ruleset handles (fs and net rights, scopes)."""

    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    """``struct landlock_path_beneath_attr`` (packed): rights granted beneath an open path."""

    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPort(ctypes.Structure):
    """``struct landlock_net_port_attr``: TCP rights granted on one port."""

    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args: object) -> int:
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        code = ctypes.get_errno()
        raise LandlockError(code, os.strerror(code))
    return int(result)


def host_abi() -> int:
    """The Landlock ABI this kernel offers: 0 when it has none (too old, disabled, not Linux)."""
    if platform.system() != "Linux":
        return 0
    try:
        return _syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except LandlockError as error:
        if error.errno in (errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
            return 0
        raise


def abi() -> int:
    """The ABI to use: the host's, lowered by ``AUTOFLOW_WATCH_LANDLOCK_ABI`` (how tests simulate an old host)."""
    found = host_abi()
    pretend = os.environ.get(ABI_ENV, "")
    return min(found, int(pretend)) if pretend.isdigit() else found


def fs_rights(level: int) -> int:
    """Every file-system right that ABI ``level`` handles (0: none)."""
    best = 0
    for needed, rights in sorted(FS_BY_ABI.items()):
        if level >= needed:
            best = rights
    return best


class Ruleset:
    """A ruleset being built: add path and port rules, then :meth:`restrict_self` (irreversible)."""

    def __init__(self, level: int, *, fs: bool = True, net: bool = True, scopes: bool = True) -> None:
        self.level = level
        self.handled_fs = fs_rights(level) if fs else 0
        self.handled_net = (NET_BIND_TCP | NET_CONNECT_TCP) if net and level >= 4 else 0
        self.scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if scopes and level >= 6 else 0
        attr = _RulesetAttr(self.handled_fs, self.handled_net, self.scoped)
        size = ctypes.sizeof(_RulesetAttr) if level >= 6 else 16 if level >= 4 else 8
        self.fd = _syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))

    def allow_path(self, path: str, rights: int) -> bool:
        """Allow ``rights`` beneath ``path`` (a folder) or on it (a file); False when it does not exist."""
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                rights &= FS_FILE_RIGHTS
            rights &= self.handled_fs
            if not rights:
                return True
            rule = _PathBeneath(rights, fd)
            _syscall(
                SYS_ADD_RULE,
                ctypes.c_int(self.fd),
                ctypes.c_int(RULE_PATH_BENEATH),
                ctypes.byref(rule),
                ctypes.c_uint32(0),
            )
            return True
        finally:
            os.close(fd)

    def allow_port(self, port: int, rights: int) -> None:
        """Allow TCP ``rights`` (bind, connect) on ``port``."""
        if self.handled_net:
            rule = _NetPort(rights & self.handled_net, port)
            _syscall(
                SYS_ADD_RULE, ctypes.c_int(self.fd), ctypes.c_int(RULE_NET_PORT), ctypes.byref(rule), ctypes.c_uint32(0)
            )

    def restrict_self(self) -> None:
        """Seal the calling thread (and all it starts from now on) with this ruleset; closes it."""
        try:
            if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
                code = ctypes.get_errno()
                raise LandlockError(code, os.strerror(code))
            _syscall(SYS_RESTRICT_SELF, ctypes.c_int(self.fd), ctypes.c_uint32(0))
        finally:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
