"""A reader of report folders, running beside publishers: it must never see one missing or mixed.

It opens a folder once (as a copying tool does) and reads the manifest and every file the
manifest lists from there. When what it opened has gone (replaced, then removed), it looks at
the folder's path again: no complete report there either, once one was seen, is "missing" (a
reader found neither report); a listed file whose sha256 differs within one opened folder, or
that is gone while the path still shows the same run, is "mixed". Folders not published yet
are skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path


def read_at(dir_fd: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read()
    finally:
        os.close(fd)


def current_run_id(folder: Path) -> str | None:
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("run_id")
    except (OSError, ValueError):
        return None


class ReportReader(threading.Thread):
    """Reads every report folder under ``outbox/<workflow>/`` in a loop; counts what must never be seen."""

    def __init__(self, outbox: Path, folders: list[Path] | None = None) -> None:
        super().__init__(daemon=True)
        self.outbox = outbox
        self.fixed = folders
        self.stop_reading = threading.Event()
        self.seen: set[Path] = set()
        self.missing: list[str] = []
        self.mixed: list[str] = []
        self.reads = 0

    def folders(self) -> list[Path]:
        if self.fixed is not None:
            return self.fixed
        found = list(self.seen)
        try:
            for workflow in self.outbox.iterdir():
                if workflow.is_dir() and not workflow.name.startswith((".", "_")):
                    found += [p for p in workflow.iterdir() if p.name[:1].isdigit()]
        except OSError:
            pass
        return sorted(set(found))

    def run(self) -> None:
        while not self.stop_reading.is_set():
            for folder in self.folders():
                self.read_once(folder)

    def stop(self) -> None:
        self.stop_reading.set()
        self.join(timeout=60)

    def read_once(self, folder: Path) -> None:
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            self._gone(folder, "folder")
            return
        try:
            document = json.loads(read_at(fd, "manifest.json"))
        except FileNotFoundError:
            self._gone(folder, "manifest")
            os.close(fd)
            return
        self.seen.add(folder)
        try:
            for output in document["outputs"]:
                if hashlib.sha256(read_at(fd, output["path"])).hexdigest() != output["sha256"]:
                    self.mixed.append(f"{document['run_id']}: {output['path']}")
        except FileNotFoundError:  # the old version's files went after a swap: fine once the folder moved on
            if current_run_id(folder) == document["run_id"]:
                self.mixed.append(f"{document['run_id']}: a listed file is gone")
        finally:
            os.close(fd)
            self.reads += 1

    def _gone(self, folder: Path, what: str) -> None:
        """What this reader held was replaced and removed: fine while the folder shows a complete report now."""
        if folder in self.seen and current_run_id(folder) is None:
            self.missing.append(f"{folder.name}: {what}")
