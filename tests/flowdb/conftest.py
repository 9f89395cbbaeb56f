"""Fixtures for the FlowDB source: real PostgreSQL servers with FlowKit's etl.etl_records.

``flowdb`` is a fresh database on the server scripts/test.sh starts (trust authentication);
``scram_server`` is a private cluster of this test session that demands passwords, for the
tests about the password; ``private_flowdb_server`` is a private cluster a test may stop.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowdb_helpers import FlowDb
from private_postgres import PrivatePostgres, postgres_bin

from autoflow_watch.config.model import FlowDbConfig

MakeConfig = Callable[..., FlowDbConfig]


def _missing(what: str) -> None:
    if os.environ.get("AUTOFLOW_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is missing although scripts/test.sh should provide it")
    pytest.skip(f"{what} is missing: run the suite through scripts/test.sh")


@pytest.fixture
def flowdb() -> Iterator[FlowDb]:
    url = os.environ.get("AUTOFLOW_TEST_POSTGRES_URL")
    if url is None:
        _missing("AUTOFLOW_TEST_POSTGRES_URL (the test PostgreSQL server)")
    database = FlowDb(str(url)).create()
    try:
        yield database
    finally:
        database.drop()


def private_server(password: str | None = None) -> PrivatePostgres:
    bin_dir = postgres_bin()
    if bin_dir is None:
        _missing("PostgreSQL's binaries")
    assert bin_dir is not None
    return PrivatePostgres(bin_dir, password=password).create()


def admin_url(server: PrivatePostgres) -> str:
    password = f":{server.password}" if server.password else ""
    return f"postgresql+psycopg://autoflow{password}@/autoflow?host={server.folder}"


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
