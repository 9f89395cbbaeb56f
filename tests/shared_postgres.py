"""The PostgreSQL server scripts/test.sh starts for the suite (AUTOFLOW_TEST_POSTGRES_URL), emptied per test.

Under pytest-xdist each worker gets a database of its own on that server (``autoflow_test_gw0``
…, made afresh at the worker's first use), so that tests on two workers never empty each
other's store.
"""

from __future__ import annotations

import functools
import os

import pytest
import server_guard
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from autoflow_watch.store.schema import metadata


def server_url() -> str | None:
    """The suite's server (its ``autoflow_test`` database), or None without one; only for tests marked postgres."""
    url = os.environ.get("AUTOFLOW_TEST_POSTGRES_URL")
    if url is not None:
        server_guard.check("uses the suite's PostgreSQL server")
    return url


def postgres_url() -> str | None:
    """This worker's database on the suite's server, or None without one (PostgreSQL tests then skip)."""
    url = server_url()
    if url is None:
        return None
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return _worker_database(url, worker) if worker else url


@functools.cache
def _worker_database(url: str, worker: str) -> str:
    """A fresh database ``<name>_<worker>`` beside ``url``'s, for this xdist worker alone."""
    server = make_url(url)
    name = f"{server.database}_{worker}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def empty_postgres() -> str:
    """The suite's PostgreSQL URL with an empty database; skip (or fail, under scripts/test.sh) without one."""
    url = postgres_url()
    if url is None:
        if os.environ.get("AUTOFLOW_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail("AUTOFLOW_TEST_POSTGRES_URL is not set although scripts/test.sh should have started PostgreSQL")
        pytest.skip("no PostgreSQL server: run the suite through scripts/test.sh")
    reset_postgres(url)
    return url


def reset_postgres(url: str) -> None:
    """An empty database: every table of ours and Alembic's version table dropped."""
    engine = create_engine(url)
    metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
