"""Moving markers out of the inbox: accepted ones to processed/, bad ones to rejected/.

Every move happens between open folder descriptors (``openat``-style), never through a path
a marker writer could redirect: the inbox is writable by them, so ``processed/`` or
``rejected/`` might have been replaced by a symlink or by a folder of their own. Such a
folder is refused (:class:`FolderRefused`): nothing is moved into it, the markers stay where
they are, and the daemon says why.

A name already taken there gets a numbered suffix, so no earlier marker is ever
overwritten; a rejected one gets ``<name>.reason`` beside it. Daemons sharing an inbox may
move the same marker at once: one moves it, the others learn so (:class:`MovedElsewhere`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from types import TracebackType

from autoflow_watch.sources.inbox.markers import readable

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class MovedElsewhere(Exception):
    """Another process (a second daemon on a shared inbox) moved this marker first."""


class FolderRefused(Exception):
    """``processed/`` or ``rejected/`` is not the daemon's own folder: nothing is moved into it."""


def open_own_folder(inbox_fd: int, name: str, inbox: Path) -> int:
    """Open (creating it if missing) the inbox's folder ``name`` without following a link.

    Refused unless it is a real folder owned by this process's user: a symlink, a file, or a
    folder that a marker writer made in its place.
    """
    with contextlib.suppress(FileExistsError):  # EEXIST also for a symlink: it is not followed
        os.mkdir(name, 0o777, dir_fd=inbox_fd)
    where = inbox / name
    try:
        fd = os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=inbox_fd)
    except OSError as error:
        raise FolderRefused(
            f"inbox folder {where}/ is a symlink or not a folder ({error.strerror}); markers stay in the inbox "
            f"until it is removed (the daemon then recreates it)"
        ) from None
    owner = os.fstat(fd).st_uid
    if owner != os.geteuid():
        os.close(fd)
        raise FolderRefused(
            f"inbox folder {where}/ belongs to uid {owner}, not to the service user (uid {os.geteuid()}); "
            "markers stay in the inbox until it is removed (the daemon then recreates it)"
        )
    return fd


class InboxFolders:
    """The inbox, opened once per batch, and its ``processed/``/``rejected/`` opened by descriptor on first use."""

    def __init__(self, inbox: Path) -> None:
        self.inbox = inbox
        self.fd = os.open(inbox, _DIR_FLAGS)
        self._folders: dict[str, int | FolderRefused] = {}

    def folder(self, name: str) -> int:
        """The descriptor of the inbox's folder ``name``; raises :class:`FolderRefused` (looked at once a batch)."""
        if name not in self._folders:
            try:
                self._folders[name] = open_own_folder(self.fd, name, self.inbox)
            except FolderRefused as refused:
                self._folders[name] = refused
        found = self._folders[name]
        if isinstance(found, FolderRefused):
            raise found
        return found

    def opened(self) -> list[str]:
        """The folders that were looked at in this batch and are the daemon's own."""
        return [name for name, fd in self._folders.items() if isinstance(fd, int)]

    def close(self) -> None:
        for fd in self._folders.values():
            if isinstance(fd, int):
                os.close(fd)
        self._folders.clear()
        os.close(self.fd)

    def __enter__(self) -> InboxFolders:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def move_to(inbox_fd: int, name: str, folder_fd: int) -> str:
    """Move the inbox's entry ``name`` into the folder ``folder_fd`` under a free name; return that name.

    A hard link then an unlink: the link fails rather than replace a name taken meanwhile, and
    the inbox's watch sees only a delete, which it ignores (a rename out would hold back its
    event stream while watchdog waits to pair it). Directories, and filesystems without hard
    links, are renamed.

    Several daemons may move the same marker at once: each looks at the names in the order
    ``name``, ``name.1``, ... and stops at the first that is free or is already this very file,
    so one link is made and the others find it. Raises :class:`MovedElsewhere` for those (and
    when the marker is gone from the inbox): they moved nothing.
    """
    try:
        source = os.lstat(name, dir_fd=inbox_fd)
    except FileNotFoundError:
        raise MovedElsewhere(name) from None
    counter = 0
    while True:
        target = name if counter == 0 else f"{name}.{counter}"
        taken = _stat(target, folder_fd)
        if taken is not None and os.path.samestat(source, taken):
            _unlink(name, inbox_fd)  # linked by another daemon, or by us before a crash: finish its move
            raise MovedElsewhere(target)
        if taken is not None or _stat(f"{target}.reason", folder_fd) is not None:
            counter += 1
            continue
        try:
            os.link(name, target, src_dir_fd=inbox_fd, dst_dir_fd=folder_fd, follow_symlinks=False)
        except FileExistsError:
            continue  # taken since we looked: look at the same name again (it may be this file)
        except FileNotFoundError:
            raise MovedElsewhere(name) from None
        except OSError:  # a directory (EPERM), or no hard links here (EPERM, EOPNOTSUPP)
            try:
                os.rename(name, target, src_dir_fd=inbox_fd, dst_dir_fd=folder_fd)
            except FileNotFoundError:
                raise MovedElsewhere(name) from None
            return target
        _unlink(name, inbox_fd)
        return target


def _stat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except OSError:
        return None


def _unlink(name: str, dir_fd: int) -> None:
    with contextlib.suppress(FileNotFoundError):  # the other daemon finished the move meanwhile
        os.unlink(name, dir_fd=dir_fd)


def reject(inbox_fd: int, name: str, rejected_fd: int, reason: str) -> str:
    """Move a bad marker aside and write why beside it, in one line (MovedElsewhere: another did)."""
    target = move_to(inbox_fd, name, rejected_fd)
    reason_file = f"{target}.reason"
    tmp = f".{reason_file}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o666, dir_fd=rejected_fd)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
            handle.write(readable(reason).replace("\n", " ") + "\n")
        os.replace(tmp, reason_file, src_dir_fd=rejected_fd, dst_dir_fd=rejected_fd)
    except BaseException:
        _unlink(tmp, rejected_fd)
        raise
    return target
