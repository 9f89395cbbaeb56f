"""The PostgreSQL server scripts/test.sh starts for the suite (AUTOFLOW_TEST_POSTGRES_URL), emptied per test."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from autoflow_watch.store.schema import metadata


def postgres_url() -> str | None:
    return os.environ.get("AUTOFLOW_TEST_POSTGRES_URL")


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
