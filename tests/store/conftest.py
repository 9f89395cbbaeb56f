"""Every store test runs on SQLite and on a real PostgreSQL server (started by scripts/test.sh)."""

from __future__ import annotations

import pytest
from shared_postgres import empty_postgres

from autoflow_watch.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state/autoflow.db"
    return empty_postgres()


@pytest.fixture
def store(store_url):
    handle = Store(store_url)
    yield handle
    handle.close()
