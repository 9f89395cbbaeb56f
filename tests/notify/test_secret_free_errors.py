"""A notebook's error line is secrets-free everywhere it goes (issue 19, item 6).

The worker builds its result already redacted, so the store, ``status --json``, the
group-readable ``index.html`` and notifications never see a token that a failing cell put
into its exception (before, only ``error.txt`` was redacted).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from daemon_process import cli
from faulty_project import single_notebook_project
from receivers import run_once_notifying, start_http

pytestmark = pytest.mark.e2e

# shaped like a FlowAPI token (a JSON Web Token), which the worker always redacts
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmFseXN0LTQyIn0.c2lnbmVkLWJ5LWZsb3dhdXRoLXNlY3JldA"


def test_a_token_in_a_notebook_error_reaches_no_store_status_index_or_notification(tmp_path: Path) -> None:
    cell = f"raise PermissionError('FlowAPI refused token {TOKEN} for ' + reference_date)"
    config = single_notebook_project(tmp_path, cell, workflow="max_attempts = 1")
    hook = start_http()
    done = run_once_notifying(config, [hook], [hook.url()])
    assert done.returncode == 1, done.stderr[-2000:]
    [run] = json.loads(cli(config, "status", "--json").stdout)
    assert run["state"] == "dead" and "FlowAPI refused token [redacted] for 2026-11-24" in run["error"]
    with sqlite3.connect(tmp_path / "var" / "state" / "autoflow.db") as conn:
        stored = " ".join(str(value) for row in conn.execute("SELECT * FROM attempts") for value in row)
        stored += " ".join(str(value) for row in conn.execute("SELECT * FROM steps") for value in row)
    assert "FlowAPI refused token" in stored and TOKEN not in stored
    index = (tmp_path / "var" / "outbox" / "index.html").read_text(encoding="utf-8")
    assert "FlowAPI refused token [redacted]" in index and TOKEN not in index
    assert hook.bodies and all(TOKEN not in json.dumps(body) for body in hook.bodies)
    assert "FlowAPI refused token [redacted]" in json.dumps(hook.bodies)
    assert TOKEN not in done.stderr
