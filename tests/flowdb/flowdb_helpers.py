"""A FlowDB of a test's own: a fresh database with FlowKit's ``etl.etl_records``, on a real server.

The table is FlowKit's own DDL (``flowdb/bin/build/0020_schema_other.sql``), and rows are
written as FlowETL's ``UpdateETLTableOperator`` writes them. Each test gets its own database
(and its own roles, cluster-wide, so their names are unique) and drops them at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from private_postgres import PrivatePostgres, postgres_bin
from sqlalchemy.engine import URL, make_url

from autoflow_watch.config.model import FlowDbConfig
from autoflow_watch.sources.flowdb.rows import notify_sql

REPO = Path(__file__).resolve().parents[2]
MakeConfig = Callable[..., FlowDbConfig]

# FlowKit: flowdb/bin/build/0020_schema_other.sql
ETL_DDL = """
CREATE SCHEMA IF NOT EXISTS etl;

CREATE TABLE etl.etl_records (
    id SERIAL NOT NULL,
    cdr_type VARCHAR,
    cdr_date DATE,
    state VARCHAR,
    timestamp TIMESTAMP WITH TIME ZONE,
    PRIMARY KEY (id)
);
"""


def psycopg_arguments(url: URL) -> dict[str, Any]:
    """psycopg.connect keywords for a SQLAlchemy URL (host may be a socket folder in the query)."""
    arguments: dict[str, Any] = {key: str(value) for key, value in url.query.items()}
    for key, value in (
        ("host", url.host),
        ("port", url.port),
        ("dbname", url.database),
        ("user", url.username),
        ("password", url.password),
    ):
        if value is not None:
            arguments.setdefault(key, str(value))
    return arguments


class FlowDb:
    """One database with FlowKit's etl schema; the test's superuser writes rows as FlowETL does."""

    def __init__(self, admin_url: str, name: str | None = None) -> None:
        self.server = make_url(admin_url)
        self.name = name or f"afw_flowdb_{uuid.uuid4().hex[:10]}"
        self.url = self.server.set(database=self.name)
        self.roles: list[str] = []

    def create(self) -> FlowDb:
        with self._admin(self.server.database) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        with self.connect() as conn:
            conn.execute(ETL_DDL)
        return self

    def drop(self) -> None:
        with self._admin(self.server.database) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            for role in self.roles:
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')

    @contextmanager
    def _admin(self, database: str | None) -> Iterator[psycopg.Connection[Any]]:
        conn = psycopg.connect(**psycopg_arguments(self.server.set(database=database)), autocommit=True)
        try:
            yield conn
        finally:
            conn.close()

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(**psycopg_arguments(self.url), autocommit=True)

    def config_url(self, role: str | None = None) -> str:
        """The ``[flowdb] url`` for ``role`` (default: the superuser), without any password."""
        url = self.url._replace(password=None)  # set() takes None as "unchanged"
        if role is not None:
            url = url.set(username=role)
        return url.render_as_string(hide_password=False)

    def insert(self, cdr_type: str | None, cdr_date: dt.date | str | None, state: str = "ingested") -> None:
        """One row, committed, as FlowETL's UpdateETLTableOperator writes it."""
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO etl.etl_records (cdr_type, cdr_date, state, timestamp) VALUES (%s, %s::date, %s, NOW())",
                (cdr_type, None if cdr_date is None else str(cdr_date), state),
            )

    def insert_silently(self, cdr_type: str, cdr_date: dt.date) -> None:
        """A row whose trigger does not fire (replica mode): only a poll can find it."""
        with self.connect() as conn, conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
            conn.execute(
                "INSERT INTO etl.etl_records (cdr_type, cdr_date, state, timestamp) VALUES (%s, %s, 'ingested', NOW())",
                (cdr_type, cdr_date),
            )

    def install_trigger(self) -> None:
        with self.connect() as conn:
            conn.execute(notify_sql())  # the shipped file, as psql would run it

    def create_reader(self, *, can_select: bool = True, password: str | None = None) -> str:
        """A login role with USAGE on etl and SELECT on etl.etl_records (or, ``can_select=False``, nothing)."""
        role = f"afw_reader_{uuid.uuid4().hex[:8]}"
        self.roles.append(role)
        with self.connect() as conn:
            secret = f" PASSWORD '{password}'" if password else ""
            conn.execute(f'CREATE ROLE "{role}" LOGIN{secret}')
            if can_select:
                conn.execute(f'GRANT USAGE ON SCHEMA etl TO "{role}"')
                conn.execute(f'GRANT SELECT ON etl.etl_records TO "{role}"')
        return role


class RecordingStore:
    """Records facts into ``store`` and keeps each batch the source handed over."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.batches: list[list[Any]] = []

    def __call__(self, facts: list[Any]) -> Any:
        self.batches.append(facts)
        return self.store.facts.record_batch(facts)


def named(events: list[Any], name: str) -> list[Any]:
    """The captured structlog events called ``name``."""
    return [event for event in events if event.get("event") == name]


def missing(what: str) -> None:
    if os.environ.get("AUTOFLOW_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{what} is missing although scripts/test.sh should provide it")
    pytest.skip(f"{what} is missing: run the suite through scripts/test.sh")


def private_server(password: str | None = None) -> PrivatePostgres:
    bin_dir = postgres_bin()
    if bin_dir is None:
        missing("PostgreSQL's binaries")
    assert bin_dir is not None
    return PrivatePostgres(bin_dir, password=password).create()


def admin_url(server: PrivatePostgres) -> str:
    password = f":{server.password}" if server.password else ""
    return f"postgresql+psycopg://autoflow{password}@/autoflow?host={server.folder}"
