"""Marker files: what a valid one looks like, and reading one safely.

Markers are data from outside: a name is parsed by a strict pattern, the file is opened
without following links, and at most 64 KiB are read, so a marker can never choose a
path, a notebook or code.
"""

from __future__ import annotations

import datetime as dt
import enum
import errno
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_MARKER_BYTES = 64 * 1024
MARKER_NAME = re.compile(r"^(?P<dataset>[a-z][a-z0-9_-]{0,63})_(?P<date>\d{4}-\d{2}-\d{2})\.ready$")
NAME_HINT = (
    "a valid marker is named <dataset>_<YYYY-MM-DD>.ready, dataset matching [a-z][a-z0-9_-]{0,63}, "
    "e.g. calls_2026-11-24.ready"
)
RESERVED_DIRS = ("processed", "rejected")


class Examined(str, enum.Enum):
    """What became of an inbox entry that is not a marker ready to record."""

    IGNORED = "ignored"  # a name the inbox never reads (hidden, temporary)
    GONE = "gone"  # handled already (a duplicate event) or removed by its writer
    DEFERRED = "deferred"  # still being written: looked at again after the settle time
    REJECTED = "rejected"  # moved to rejected/ with its reason
    KEPT = "kept"  # rejected, but rejected/ is refused: left in place, said once
    ERROR = "error"  # our failure, not the marker's: looked at again after a pause


class BadMarker(Exception):
    """Why a marker is rejected, in one line an operator can act on."""


class MarkerGone(BadMarker):
    """The marker vanished while it was looked at (another daemon moved it, or its writer removed it)."""


@dataclass(frozen=True)
class Marker:
    """A marker file read and validated: its fact and the key that identifies this very file."""

    dataset: str
    day: dt.date
    metadata: dict[str, Any] | None
    delivery_key: str  # identifies this very file, so a re-scan after a crash is not a redelivery


def is_ignored(name: str) -> bool:
    """Names writers use while a marker is in progress, and our own folders."""
    return name.startswith(".") or name.endswith((".tmp", ".part")) or name in RESERVED_DIRS


def parse_name(name: str) -> tuple[str, dt.date]:
    """``calls_2026-11-24.ready`` -> ``("calls", date(2026, 11, 24))``, or raise BadMarker."""
    match = MARKER_NAME.fullmatch(name)  # fullmatch: "$" alone would let a trailing newline through
    if not match:
        raise BadMarker(f"bad marker name {_shown(name)}: {NAME_HINT}")
    try:
        day = dt.date.fromisoformat(match["date"])
    except ValueError:
        raise BadMarker(f"impossible date {match['date']!r} in marker name {_shown(name)}: {NAME_HINT}") from None
    return match["dataset"], day


def read_marker(path: Path) -> Marker:
    """Validate the marker at ``path`` (name, file type, size, content) and return it.

    Raises :class:`BadMarker` and nothing else, whatever the file is (:class:`MarkerGone` when
    it vanished meanwhile): the file is opened without following a link and without blocking
    (a FIFO or a device answers at once), examined by ``fstat`` on what was opened, and read
    to at most 64 KiB; the content is parsed by a reader that cannot recurse without end.
    """
    name = _shown(path.name)
    try:
        dataset, day = parse_name(path.name)
        return _read_checked(path, name, dataset, day)
    except BadMarker:
        raise
    except FileNotFoundError:
        raise MarkerGone(name) from None
    except Exception as error:  # whatever else a hostile file manages: still only a bad marker
        raise BadMarker(
            f"marker {name} cannot be read ({type(error).__name__}); "
            "write a regular file holding nothing or a small JSON object"
        ) from None


def _shown(name: str) -> str:
    """A marker's name as it may be printed: quoted, control characters escaped, bytes that are not
    UTF-8 shown as U+FFFD (not Python's ``\\udcxx`` escapes: the name is for people)."""
    return repr(readable(name))


def readable(text: str) -> str:
    """``text`` with the undecodable bytes of a file name (surrogate escapes) as U+FFFD, so it prints as UTF-8."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte
        return text.encode("utf-8", "replace").decode("utf-8")


def _read_checked(path: Path, name: str, dataset: str, day: dt.date) -> Marker:
    info = os.lstat(path)
    _check_type(name, info)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP:  # replaced by a link since we looked
            _check_type(name, os.lstat(path))
        raise BadMarker(
            f"marker {name} is unreadable: {error.strerror}; make it readable by the service user"
        ) from None
    try:
        opened = os.fstat(fd)
        _check_type(name, opened)  # what was opened, not what the name showed a moment before
        content = _read_bounded(fd, name)
    finally:
        os.close(fd)
    key = f"{opened.st_ino}:{opened.st_mtime_ns}:{opened.st_size}"
    return Marker(dataset, day, _parse_content(name, content), key)


def _check_type(name: str, info: os.stat_result) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise BadMarker(
            f"marker {name} is a symlink; markers must be regular files (write the file itself, not a link)"
        )
    if stat.S_ISDIR(info.st_mode):
        raise BadMarker(f"marker {name} is a directory; markers must be regular files (touch the file)")
    if not stat.S_ISREG(info.st_mode):
        raise BadMarker(
            f"marker {name} is not a regular file (a FIFO, socket or device); markers must be regular files "
            "(touch the file)"
        )
    if info.st_size > MAX_MARKER_BYTES:
        raise BadMarker(f"marker {name} is {info.st_size} bytes, over the 64 KiB limit; keep the JSON metadata small")


def _read_bounded(fd: int, name: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        while size <= MAX_MARKER_BYTES:
            chunk = os.read(fd, MAX_MARKER_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise BadMarker(
            f"marker {name} is unreadable: {error.strerror}; make it readable by the service user"
        ) from None
    if size > MAX_MARKER_BYTES:
        raise BadMarker(f"marker {name} is over the 64 KiB limit; keep the JSON metadata small")
    return b"".join(chunks)


def _no_constant(value: str) -> Any:
    raise ValueError(f"{value} is not a JSON number")


def _parse_content(name: str, content: bytes) -> dict[str, Any] | None:
    if not content.strip():
        return None
    try:
        value = json.loads(content.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise BadMarker(
            f"marker {name} holds JSON nested too deeply; leave it empty or write a flat JSON object"
        ) from None
    except ValueError as error:  # not UTF-8, not JSON, NaN, a number of 5,000 digits
        text = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise BadMarker(f"marker {name} holds invalid JSON ({text}); leave it empty or write a JSON object") from None
    if not isinstance(value, dict):
        raise BadMarker(
            f"marker {name} holds JSON {type(value).__name__}, not an object; "
            'leave it empty or write a JSON object like {"rows": 123}'
        )
    return value
