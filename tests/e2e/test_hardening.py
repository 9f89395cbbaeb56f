"""Smaller hardening of issue 19, item 11: the daemon's own umask outside systemd, FlowDB over TLS by default."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from faulty_project import drop_marker, single_notebook_project

from autoflow_watch.config.model import FlowDbConfig
from autoflow_watch.sources.flowdb.connect import connect_arguments


@pytest.mark.e2e
def test_started_from_a_shell_with_umask_000_the_daemon_writes_nothing_others_can_read(tmp_path: Path) -> None:
    config = single_notebook_project(tmp_path, "print('fine')")
    drop_marker(config)
    var = tmp_path / "var"
    before = set(var.rglob("*"))  # made by the test, with the test's umask
    command = f"umask 000 && exec {sys.executable} -m autoflow_watch run --once --config {config}"
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    written = [p for p in set(var.rglob("*")) - before if not p.is_symlink()]
    assert (var / "outbox" / "faulty" / "2026-11-24" / "manifest.json") in written
    readable = [str(p.relative_to(var)) for p in written if stat.S_IMODE(p.stat().st_mode) & 0o007]
    marker = var / "inbox" / "processed" / "calls_2026-11-24.ready"  # the writer's own file, moved
    assert [p for p in readable if p != str(marker.relative_to(var))] == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://reader@flowdb.example.org:5432/flowdb", "require"),
        ("postgresql://reader@flowdb.example.org/flowdb?sslmode=verify-full", "verify-full"),
        ("postgresql://reader@localhost/flowdb?sslmode=disable", "disable"),
        ("postgresql://reader@/flowdb?host=/var/run/postgresql", None),  # a Unix socket: no TLS there
    ],
)
def test_flowdb_connects_with_sslmode_require_unless_the_url_says_otherwise(
    url: str, expected: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)
    assert connect_arguments(FlowDbConfig(url=url)).get("sslmode") == expected
    if expected == "require":
        monkeypatch.setenv("PGSSLMODE", "verify-full")  # libpq's own environment is the operator's word too
        assert "sslmode" not in connect_arguments(FlowDbConfig(url=url))
    assert os.environ.get("PGSSLMODE") in (None, "verify-full")
