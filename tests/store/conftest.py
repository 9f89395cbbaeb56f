"""Every store test runs on SQLite and on a real PostgreSQL server (started by scripts/test.sh)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

from autoflow_watch.store import Store
from autoflow_watch.store.schema import metadata


def postgres_url() -> str | None:
    return os.environ.get("AUTOFLOW_TEST_POSTGRES_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state/autoflow.db"
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


@pytest.fixture
def store(store_url):
    handle = Store(store_url)
    yield handle
    handle.close()
