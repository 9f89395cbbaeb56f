"""Moving markers out of the inbox: accepted ones to processed/, bad ones to rejected/.

A name already taken there gets a numbered suffix, so no earlier marker is ever
overwritten; a rejected one gets ``<name>.reason`` beside it. Daemons sharing an inbox may
move the same marker at once: one moves it, the others learn so (:class:`MovedElsewhere`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class MovedElsewhere(Exception):
    """Another process (a second daemon on a shared inbox) moved this marker first."""


def move_to(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` under a free name (the inbox and its folders share a filesystem).

    A hard link then an unlink: the link fails rather than replace a name taken meanwhile, and
    the inbox's watch sees only a delete, which it ignores (a rename out would hold back its
    event stream while watchdog waits to pair it). Directories, and filesystems without hard
    links, are renamed.

    Several daemons may move the same marker at once: each looks at the names in the order
    ``name``, ``name.1``, ... and stops at the first that is free or is already this very file,
    so one link is made and the others find it. Raises :class:`MovedElsewhere` for those (and
    when the marker is gone from the inbox): they moved nothing.
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        source = os.lstat(path)
    except FileNotFoundError:
        raise MovedElsewhere(str(path)) from None
    counter = 0
    while True:
        target = folder / (path.name if counter == 0 else f"{path.name}.{counter}")
        taken = _stat(target)
        if taken is not None and os.path.samestat(source, taken):
            _unlink_source(path)  # linked by another daemon, or by us before a crash: finish its move
            raise MovedElsewhere(str(target))
        if taken is not None or os.path.lexists(f"{target}.reason"):
            counter += 1
            continue
        try:
            os.link(path, target, follow_symlinks=False)
        except FileExistsError:
            continue  # taken since we looked: look at the same name again (it may be this file)
        except FileNotFoundError:
            raise MovedElsewhere(str(path)) from None
        except OSError:  # a directory (EPERM), or no hard links here (EPERM, EOPNOTSUPP)
            try:
                os.rename(path, target)
            except FileNotFoundError:
                raise MovedElsewhere(str(path)) from None
            return target
        _unlink_source(path)
        return target


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _unlink_source(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):  # the other daemon finished the move meanwhile
        os.unlink(path)


def reject(path: Path, rejected: Path, reason: str) -> Path:
    """Move a bad marker aside and write why beside it, in one line (MovedElsewhere: another did)."""
    target = move_to(path, rejected)
    reason_file = Path(f"{target}.reason")
    tmp = reason_file.with_name(f".{reason_file.name}.tmp")
    tmp.write_text(reason.replace("\n", " ") + "\n", encoding="utf-8")
    os.replace(tmp, reason_file)
    return target
