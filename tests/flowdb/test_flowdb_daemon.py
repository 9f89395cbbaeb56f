"""The FlowDB source in the real daemon: FlowETL's rows start runs; a FlowDB that fails never stops it."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, cli
from faulty_project import drop_marker, single_notebook_project
from flowdb_helpers import FlowDb, admin_url, private_server
from private_postgres import PrivatePostgres

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
D = dt.date
PASSWORD = "daemon-reader-9c41e7b2"


def flowdb_project(folder: Path, url: str, extra: str = "") -> Path:
    """A one-notebook workflow on ``calls``, with ``[flowdb]`` polling only every ten minutes."""
    config = single_notebook_project(folder, "print('ran for', reference_date)")
    with config.open("a", encoding="utf-8") as handle:
        handle.write(f'\n[flowdb]\nurl = "{url}"\npoll_interval = "10m"\ntimeout = "5s"\n{extra}\n')
    return config


def started_dates(daemon: DaemonProcess) -> list[str]:
    return sorted(line["reference_date"] for line in daemon.events("run.started"))


def facts(config: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(config.parent / "var" / "state" / "autoflow.db") as conn:
        return sorted(conn.execute("SELECT dataset, day, sources FROM facts").fetchall())


def test_ingested_rows_start_runs_at_once_and_quarantined_ones_never(tmp_path: Path, flowdb: FlowDb):
    flowdb.install_trigger()
    config = flowdb_project(tmp_path, flowdb.config_url(flowdb.create_reader()))
    daemon = DaemonProcess(config).start()
    try:
        [mode] = daemon.wait_for_event("flowdb.mode", timeout=30)
        flowdb.insert("calls", D(2026, 11, 23), state="quarantine")
        flowdb.insert("calls", D(2026, 11, 25), state="archive")
        flowdb.insert("calls", D(2026, 11, 24))
        daemon.wait_for_event("run.started", timeout=60)  # ten minutes before the next poll
    finally:
        assert daemon.stop() == 0
    assert mode["mode"] == "listen"
    assert started_dates(daemon) == ["2026-11-24"]
    assert facts(config) == [("calls", "2026-11-24", "flowdb")]


def test_a_role_without_select_is_one_clear_error_and_the_inbox_goes_on(tmp_path: Path, flowdb: FlowDb):
    config = flowdb_project(tmp_path, flowdb.config_url(flowdb.create_reader(can_select=False)))
    daemon = DaemonProcess(config).start()
    try:
        [error] = daemon.wait_for_event("flowdb.unavailable", timeout=30)
        drop_marker(config, "2026-11-24")
        daemon.wait_for_event("run.started", timeout=60)
        assert daemon.process.poll() is None
    finally:
        assert daemon.stop() == 0
    assert (error["level"], error["kind"]) == ("error", "no_privilege")
    assert "permission denied" in error["error"] and "GRANT" in error["hint"]
    assert len(daemon.events("flowdb.unavailable")) == 1
    assert facts(config) == [("calls", "2026-11-24", "inbox")]


@pytest.fixture
def restartable() -> Iterator[PrivatePostgres]:
    server = private_server(password="super-" + os.urandom(6).hex())
    try:
        yield server
    finally:
        server.destroy()


def serve_where_nobody_looks(server: PrivatePostgres) -> Path:
    """Start ``server`` on another socket folder: the test can write, the daemon cannot connect."""
    hidden = server.folder / "hidden"
    hidden.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(hidden, "postgres")
    server.start(socket_dir=hidden)
    return hidden


def test_flowdb_stopped_and_restarted_reconnects_catches_up_and_records_each_day_once(
    tmp_path: Path, restartable: PrivatePostgres
):
    flowdb = FlowDb(admin_url(restartable)).create()
    flowdb.install_trigger()
    (tmp_path / "flowdb-password").write_text(PASSWORD + "\n")
    role = flowdb.create_reader(password=PASSWORD)
    config = flowdb_project(tmp_path, flowdb.config_url(role), extra='password_file = "flowdb-password"')
    daemon = DaemonProcess(config).start()
    try:
        daemon.wait_for_event("flowdb.mode", timeout=30)
        flowdb.insert("calls", D(2026, 11, 22))
        daemon.wait_for_event("run.started", timeout=60)
        restartable.stop()
        daemon.wait_for_event("flowdb.unavailable", timeout=60)
        hidden = serve_where_nobody_looks(restartable)
        away = FlowDb(admin_url(restartable).replace(str(restartable.folder), str(hidden)), name=flowdb.name)
        away.insert_silently("calls", D(2026, 11, 23))  # committed while the daemon was away: no NOTIFY reaches it
        restartable.stop()
        restartable.start()
        daemon.wait_for_event("flowdb.available_again", timeout=120)
        daemon.wait_for_event("run.started", timeout=60, count=2)  # the catch-up poll found it
        flowdb.insert("calls", D(2026, 11, 24))  # LISTENing again: at once, not at the next poll
        daemon.wait_for_event("run.started", timeout=60, count=3)
    finally:
        assert daemon.stop() == 0
        flowdb.drop()
    assert started_dates(daemon) == ["2026-11-22", "2026-11-23", "2026-11-24"]
    assert facts(config) == [("calls", f"2026-11-{d}", "flowdb") for d in (22, 23, 24)]
    assert len(daemon.events("flowdb.unavailable")) == 1, "the outage is told once, not at every retry"
    leaked = [
        path
        for path in tmp_path.rglob("*")
        if path.is_file() and path.name != "flowdb-password" and PASSWORD.encode() in path.read_bytes()
    ]
    assert leaked == [], "the password is in no file the daemon wrote"


def test_run_once_polls_flowdb_once_and_runs_what_is_due(tmp_path: Path, flowdb: FlowDb):
    flowdb.insert("calls", D(2026, 11, 24))
    config = flowdb_project(tmp_path, flowdb.config_url())

    done = cli(config, "run", "--once")

    assert done.returncode == 0, done.stderr
    assert '"flowdb.polled_once"' in done.stderr and '"run.started"' in done.stderr
    assert facts(config) == [("calls", "2026-11-24", "flowdb")]
