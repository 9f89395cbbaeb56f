"""Writing into the outbox so that no reader ever sees half a file.

Everything is first written inside ``outbox/.staging/`` — hidden, and on the outbox's own
filesystem, so that ``os.replace`` into place is a rename: atomic for any reader on the
same machine, and on SMB/NFS clients too (they see the old name or the new file, never a
partial one). Data is fsynced before the rename and the folder after it, so a power cut
leaves either the old state or the new one. What a crash leaves in staging is removed by
:func:`clean_staging` at the next start.

Several daemons may share one outbox (the PostgreSQL store is for that), so a staging entry
is named after its writer (``p<pid>_<unique>_<host>``): a starting daemon removes only the
entries of dead processes on its own host, and other hosts' entries once they are stale.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path

from autoflow_watch import processes

STAGING = ".staging"
FAILED = "_failed"
MANIFEST = "manifest.json"
LATEST_JSON = "latest.json"
LATEST_HTML = "latest.html"
INDEX = "index.html"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COMPONENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def is_date_name(name: str) -> bool:
    """Whether a folder name is a reference date (``YYYY-MM-DD``, a real day: not ``2026-13-45``)."""
    if not _DATE.fullmatch(name):
        return False
    try:
        dt.date.fromisoformat(name)
    except ValueError:
        return False
    return True


def check_component(value: str, what: str) -> str:
    """Refuse a workflow, date or run id that is not one plain folder name (``..``, ``/``, hidden)."""
    if not _COMPONENT.match(value) or ".." in value:
        raise ValueError(f"{what} {value!r} cannot be used as a folder name in the outbox")
    return value


_FOREIGN_STALE_S = 3600.0


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname()) or "host"


def staging_name(suffix: str = "") -> str:
    """A unique name in the staging area that says which process on which host owns it.

    ``p<pid>_<host>_<32 hex>[suffix]``: a host name never holds ``_`` (see :func:`_host`), so the
    host is read back exactly; a peer named ``<host>.x`` is never taken for this host.
    """
    return f"p{os.getpid()}_{_host()}_{uuid.uuid4().hex}{suffix}"


def staging_dir(outbox: Path) -> Path:
    """A new, unique folder in the outbox's hidden staging area."""
    folder = outbox / STAGING / staging_name()
    folder.mkdir(parents=True)
    return folder


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable; some filesystems (and SMB mounts) refuse: then best effort."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_text(outbox: Path, path: Path, text: str) -> None:
    """Write ``path`` (inside ``outbox``) through the staging area and rename it into place."""
    (outbox / STAGING).mkdir(parents=True, exist_ok=True)
    tmp = outbox / STAGING / staging_name(f".{path.name}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def discard(outbox: Path, folder: Path) -> bool:
    """Remove ``folder`` at once for readers: rename it into staging, then delete it there.

    Returns False when it was gone already (another daemon sharing the outbox removed it).
    """
    trash = outbox / STAGING / staging_name(".removed")
    trash.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(folder, trash)
    except FileNotFoundError:
        return False
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return True
    shutil.rmtree(trash, ignore_errors=True)
    return True


_OWNED = re.compile(r"^p(?P<pid>\d+)_(?P<host>[A-Za-z0-9.-]+)_[0-9a-f]{32}(?:\..*)?$")
_OLDER = re.compile(r"^p(?P<pid>\d+)_[0-9a-f]{32}_(?P<rest>.+)$")  # before release 3: host and suffix run together


def _leftover(entry: Path, now: float) -> bool:
    """Whether a staging entry belongs to nobody alive (see the module docstring)."""
    match = _OWNED.match(entry.name)
    if match is None and _OLDER.match(entry.name) is None:
        return True  # not a name any writer of ours uses: a stray copy
    if match is not None and match.group("host") == _host():
        pid = int(match.group("pid"))
        return pid != os.getpid() and not processes.alive(pid)
    try:  # another host's, or an older version's whose host is not certain: wait until clearly stale
        return now - entry.lstat().st_mtime > _FOREIGN_STALE_S
    except OSError:
        return False


def clean_staging(outbox: Path) -> int:
    """Remove what crashed writers left in the staging area; return how many entries went.

    Called at daemon start. Entries of live processes (another daemon sharing this outbox is
    publishing right now) are left alone.
    """
    staging = outbox / STAGING
    if not staging.is_dir():
        return 0
    now = time.time()
    removed = 0
    try:
        entries = list(staging.iterdir())
    except OSError:
        return 0
    for entry in entries:
        if not _leftover(entry, now):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        except OSError:  # not ours to remove (another user's file): left alone, never fatal at start
            continue
        removed += 1
    return removed
