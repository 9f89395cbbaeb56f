"""The FlowDB password: read from password_file at each connection, a secret in every message."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flowdb_helpers import FlowDb, named

from autoflow_watch.config.model import FlowDbConfig
from autoflow_watch.secrets import redact
from autoflow_watch.sources.flowdb.source import FlowDbSource
from autoflow_watch.sources.source import PollFailure
from autoflow_watch.store import Store

pytestmark = pytest.mark.postgres
PASSWORD = "reader-Pa55-7f3c9e"
WRONG = "not-the-password-41ad"


@pytest.fixture
def store(tmp_path: Path):
    handle = Store(f"sqlite:///{tmp_path}/state.db")
    yield handle
    handle.close()


@pytest.fixture
def reader(scram_flowdb: FlowDb) -> str:
    scram_flowdb.insert("calls", dt.date(2026, 11, 24))
    return scram_flowdb.create_reader(password=PASSWORD)


def config(flowdb: FlowDb, role: str, password_file: Path) -> FlowDbConfig:
    return FlowDbConfig(url=flowdb.config_url(role), password_file=password_file, timeout="5s")


def test_the_password_file_opens_flowdb_and_the_password_is_in_no_event(
    scram_flowdb: FlowDb, reader: str, tmp_path: Path, store: Store, events: list
):
    secret = tmp_path / "flowdb-password"
    secret.write_text(PASSWORD + "\n")

    outcome = FlowDbSource(config(scram_flowdb, reader, secret), store.facts.record_batch).poll_once()

    assert (outcome.ok, outcome.facts) == (True, 1)
    assert PASSWORD not in repr(events)
    assert redact(f"password={PASSWORD}") == "password=[redacted]", "registered as a secret for every log line"


def test_a_wrong_password_is_one_error_and_a_corrected_file_is_used_without_a_restart(
    scram_flowdb: FlowDb, reader: str, tmp_path: Path, store: Store, events: list
):
    secret = tmp_path / "flowdb-password"
    secret.write_text(WRONG + "\n")
    source = FlowDbSource(config(scram_flowdb, reader, secret), store.facts.record_batch)

    refused = [source.poll_once() for _ in range(3)]
    secret.write_text(PASSWORD + "\n")
    fixed = source.poll_once()

    assert {(o.ok, o.failure) for o in refused} == {(False, PollFailure.REFUSED)}
    assert "password authentication failed" in refused[0].message
    [error] = [e for e in named(events, "flowdb.unavailable") if e["log_level"] != "debug"]
    assert (error["log_level"], error["kind"]) == ("error", "refused")
    assert (fixed.ok, fixed.facts) == (True, 1)
    assert len(named(events, "flowdb.available_again")) == 1
    assert WRONG not in repr(events) and PASSWORD not in repr(events)


def test_a_missing_password_file_is_named_in_the_error(scram_flowdb: FlowDb, reader: str, tmp_path: Path, store: Store):
    secret = tmp_path / "nowhere" / "flowdb-password"

    outcome = FlowDbSource(config(scram_flowdb, reader, secret), store.facts.record_batch).poll_once()

    assert (outcome.ok, outcome.failure) == (False, PollFailure.PASSWORD_FILE)
    assert str(secret) in outcome.message and "does not exist" in outcome.message


def test_without_a_password_the_server_refuses_clearly(scram_flowdb: FlowDb, reader: str, store: Store, monkeypatch):
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent/pgpass")
    outcome = FlowDbSource(FlowDbConfig(url=scram_flowdb.config_url(reader)), store.facts.record_batch).poll_once()

    assert (outcome.ok, outcome.failure) == (False, PollFailure.REFUSED)
    assert "no password supplied" in outcome.message
