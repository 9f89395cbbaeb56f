"""Moving markers out of the inbox: accepted ones to processed/, bad ones to rejected/.

A name already taken there gets a numbered suffix, so no earlier marker is ever
overwritten; a rejected one gets ``<name>.reason`` beside it.
"""

from __future__ import annotations

import os
from pathlib import Path


def free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/name.1``, ``.2`` ... whichever does not exist yet."""
    candidate = folder / name
    counter = 1
    while os.path.lexists(candidate) or os.path.lexists(f"{candidate}.reason"):
        candidate = folder / f"{name}.{counter}"
        counter += 1
    return candidate


def move_to(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` under a free name (the inbox and its folders share a filesystem).

    A hard link then an unlink: the link fails rather than replace a name taken meanwhile, and
    the inbox's watch sees only a delete, which it ignores (a rename out would hold back its
    event stream while watchdog waits to pair it). Directories, and filesystems without hard
    links, are renamed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if _already_linked(path, folder / path.name):
        os.unlink(path)  # a crash came between link and unlink: finish the move
        return folder / path.name
    while True:
        target = free_name(folder, path.name)
        try:
            os.link(path, target, follow_symlinks=False)
        except FileExistsError:
            continue  # taken since free_name looked: try the next number
        except FileNotFoundError:
            raise
        except OSError:  # a directory (EPERM), or no hard links here (EPERM, EOPNOTSUPP)
            os.rename(path, target)
            return target
        os.unlink(path)
        return target


def _already_linked(path: Path, target: Path) -> bool:
    try:
        return os.path.samestat(os.lstat(path), os.lstat(target))
    except OSError:
        return False


def reject(path: Path, rejected: Path, reason: str) -> Path:
    """Move a bad marker aside and write why beside it, in one line."""
    target = move_to(path, rejected)
    reason_file = Path(f"{target}.reason")
    tmp = reason_file.with_name(f".{reason_file.name}.tmp")
    tmp.write_text(reason.replace("\n", " ") + "\n", encoding="utf-8")
    os.replace(tmp, reason_file)
    return target
