"""Fixtures for the FlowDB source: real PostgreSQL servers with FlowKit's etl.etl_records.

``flowdb`` is a fresh database on the server scripts/test.sh starts (trust authentication);
``scram_server`` is a private cluster of this test session that demands passwords, for the
tests about the password. A test that stops its server starts its own (``private_server``).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowdb_helpers import FlowDb, MakeConfig, admin_url, missing, private_server
from private_postgres import PrivatePostgres
from shared_postgres import server_url

from autoflow_watch.config.model import FlowDbConfig


@pytest.fixture
def flowdb() -> Iterator[FlowDb]:
    url = server_url()  # each test's FlowDB is a database of its own on it
    if url is None:
        missing("AUTOFLOW_TEST_POSTGRES_URL (the test PostgreSQL server)")
    database = FlowDb(str(url)).create()
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture(scope="session")
def scram_server() -> Iterator[PrivatePostgres]:
    server = private_server(password=f"super-{secrets.token_hex(8)}")
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def scram_flowdb(scram_server: PrivatePostgres) -> Iterator[FlowDb]:
    database = FlowDb(admin_url(scram_server)).create()
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture
def make_config(flowdb: FlowDb) -> MakeConfig:
    """``make_config(**overrides)``: a FlowDbConfig for ``flowdb`` (superuser, listen, long poll)."""

    def make(**overrides: Any) -> FlowDbConfig:
        values: dict[str, Any] = {"url": flowdb.config_url(), "poll_interval": "10m", "timeout": "5s"}
        values.update(overrides)
        return FlowDbConfig(**values)

    return make


@pytest.fixture
def events() -> Iterator[list[Any]]:
    """Every structlog event the code under test logs (before rendering or redaction)."""
    with structlog.testing.capture_logs() as captured:
        yield captured
