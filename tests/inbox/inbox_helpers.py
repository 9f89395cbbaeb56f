"""Helpers for the inbox tests (a uniquely named module, so tests need not import ``conftest``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daemon_process import DaemonProcess, wait_for
from project_files import PATHS_TOML, two_notebooks_toml

from autoflow_watch.sources.inbox.source import InboxSource
from autoflow_watch.store import Store

StartInbox = Callable[..., InboxSource]

NAME_HINT = "a valid marker is named <dataset>_<YYYY-MM-DD>.ready"


def _file(content: bytes | str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    return make


def _symlink(path: Path) -> None:
    target = path.parent.parent / "real-marker"
    target.write_text("", encoding="utf-8")
    path.symlink_to(target)


# name, how to make it, what its reason must say
BAD_KINDS: list[tuple[str, Callable[[Path], None], list[str]]] = [
    ("notes.txt", _file("hello"), ["bad marker name 'notes.txt'", NAME_HINT]),
    ("Calls_2026-11-24.ready", _file(""), ["bad marker name", NAME_HINT]),
    ("calls_20261124.ready", _file(""), ["bad marker name", NAME_HINT]),
    ("calls_2026-02-30.ready", _file(""), ["impossible date '2026-02-30'", NAME_HINT]),
    ("calls_2026-11-25.ready", _file('{"rows": 12'), ["holds invalid JSON", "write a JSON object"]),
    ("calls_2026-11-26.ready", _file(b"\xff\xfe rows"), ["holds invalid JSON"]),
    ("calls_2026-11-27.ready", _file("[1, 2, 3]"), ["holds JSON list, not an object"]),
    ("calls_2026-11-28.ready", _file('"done"'), ["holds JSON str, not an object"]),
    ("calls_2026-11-29.ready", _file(json.dumps({"pad": "x" * 70_000})), ["over the 64 KiB limit"]),
    ("calls_2026-11-30.ready", _symlink, ["is a symlink", "regular file"]),
    ("calls_2026-12-01.ready", lambda p: p.mkdir(), ["is a directory", "regular file"]),
    ("calls_2026-12-02.ready", lambda p: os.mkfifo(p), ["is not a regular file"]),
]

# A config whose one workflow waits for calls *and* sms: markers become facts and nothing
# runs (no kernels), so a daemon test measures the inbox alone.
DAEMON_CONFIG = (
    PATHS_TOML
    + """
[execution]
shutdown_grace = "5s"

[inbox]
settle = "0.3s"
rescan_interval = "{rescan_interval}"
{inbox_extra}

[[workflow]]
name = "daily"
datasets = ["calls", "sms"]
parameters = {{ region = "admin2" }}
"""
    + two_notebooks_toml(None)
)


@dataclass
class Logs:
    """structlog events captured at every level while a test runs."""

    events: list[MutableMapping[str, Any]] = field(default_factory=list)

    def named(self, event: str, **fields: Any) -> list[MutableMapping[str, Any]]:
        return [e for e in self.events if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())]


def marker_name(dataset: str, day: dt.date | str) -> str:
    return f"{dataset}_{day if isinstance(day, str) else day.isoformat()}.ready"


def entries(folder: Path) -> list[str]:
    """The names in ``folder``, sorted; the inbox's own folders left out."""
    return sorted(name for name in os.listdir(folder) if name not in ("processed", "rejected"))


def fact_of(store: Store, dataset: str, day: str) -> tuple[Any, int] | None:
    return store.facts.get(dataset, dt.date.fromisoformat(day))


def wait_fact(store: Store, dataset: str, day: str, timeout: float = 30.0) -> tuple[Any, int]:
    return wait_for(lambda: fact_of(store, dataset, day), timeout, what=f"fact {dataset} {day}")


def reason_of(rejected: Path, name: str) -> str:
    return (rejected / f"{name}.reason").read_text(encoding="utf-8")


def cannot_drop_dac_override() -> str | None:
    """Why an unreadable file cannot be made for real here, or None when it can.

    Root reads a mode-000 file, so as root the reader runs under ``setpriv`` without the
    capabilities that bypass file permissions (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH).
    """
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        return "running as root and setpriv (util-linux) is missing"
    probe = subprocess.run([*without_dac_override(), "true"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"setpriv cannot drop capabilities here: {probe.stderr.strip()}"


def without_dac_override() -> list[str]:
    """A command prefix under which a mode-000 file is unreadable, even for root."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def write_daemon_config(project: Path, *, rescan_interval: str = "1h", inbox_extra: str = "") -> Path:
    """Overwrite the project's config with :data:`DAEMON_CONFIG` (the project's notebooks stay)."""
    config = project / "autoflow.toml"
    config.write_text(DAEMON_CONFIG.format(rescan_interval=rescan_interval, inbox_extra=inbox_extra), encoding="utf-8")
    return config


class RestrictedDaemon(DaemonProcess):
    """The real daemon, started without the capabilities that let root read any file."""

    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> RestrictedDaemon:
        args = [*without_dac_override(), sys.executable, "-m", "autoflow_watch", "run", "--config", str(self.config)]
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, env=self.env)
        if wait_ready:
            self.wait_for_event("daemon.ready", timeout=timeout)
        return self
