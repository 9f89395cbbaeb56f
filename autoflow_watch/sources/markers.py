"""Marker files: what a valid one looks like, and reading one safely.

Markers are data from outside: a name is parsed by a strict pattern, the file is opened
without following links, and at most 64 KiB are read, so a marker can never choose a
path, a notebook or code.
"""

from __future__ import annotations

import datetime as dt
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


class BadMarker(Exception):
    """Why a marker is rejected, in one line an operator can act on."""


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
    match = MARKER_NAME.match(name)
    if not match:
        raise BadMarker(f"bad marker name {name!r}: {NAME_HINT}")
    try:
        day = dt.date.fromisoformat(match["date"])
    except ValueError:
        raise BadMarker(f"impossible date {match['date']!r} in marker name {name!r}: {NAME_HINT}") from None
    return match["dataset"], day


def read_marker(path: Path) -> Marker:
    """Validate the marker at ``path`` (name, file type, size, content) and return it."""
    dataset, day = parse_name(path.name)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise BadMarker(f"marker {path.name!r} cannot be examined: {error.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise BadMarker(
            f"marker {path.name!r} is a symlink; markers must be regular files (write the file itself, not a link)"
        )
    if stat.S_ISDIR(info.st_mode):
        raise BadMarker(f"marker {path.name!r} is a directory; markers must be regular files (touch the file)")
    if not stat.S_ISREG(info.st_mode):
        raise BadMarker(f"marker {path.name!r} is not a regular file; markers must be regular files (touch the file)")
    if info.st_size > MAX_MARKER_BYTES:
        raise BadMarker(
            f"marker {path.name!r} is {info.st_size} bytes, over the 64 KiB limit; keep the JSON metadata small"
        )
    content = _read_bytes(path)
    return Marker(dataset, day, _parse_content(path.name, content), f"{info.st_ino}:{info.st_mtime_ns}:{info.st_size}")


def _read_bytes(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as error:
        raise BadMarker(
            f"marker {path.name!r} is unreadable: {error.strerror}; make it readable by the service user"
        ) from None
    try:
        content = os.read(fd, MAX_MARKER_BYTES + 1)
    except OSError as error:
        raise BadMarker(f"marker {path.name!r} is unreadable: {error.strerror}") from None
    finally:
        os.close(fd)
    if len(content) > MAX_MARKER_BYTES:
        raise BadMarker(f"marker {path.name!r} is over the 64 KiB limit; keep the JSON metadata small")
    return content


def _parse_content(name: str, content: bytes) -> dict[str, Any] | None:
    if not content.strip():
        return None
    try:
        value = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadMarker(
            f"marker {name!r} holds invalid JSON ({error}); leave it empty or write a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise BadMarker(
            f"marker {name!r} holds JSON {type(value).__name__}, not an object; "
            'leave it empty or write a JSON object like {"rows": 123}'
        )
    return value
