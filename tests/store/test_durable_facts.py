"""A fact is on disk before its marker moves to processed/ (issue 19, item 5).

A power cut cannot be caused here, so the test pins what makes the commit durable: SQLite in
WAL mode with ``synchronous=FULL`` (``NORMAL`` may lose the last commits on power loss), and a
PostgreSQL session that does not acknowledge a commit before it is flushed
(``synchronous_commit`` back to ``on`` where the server says ``off``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_postgres import empty_postgres
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from autoflow_watch.store import Store

FULL = 2


def test_sqlite_commits_with_synchronous_full(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path}/state/autoflow.db")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == FULL
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_sessions_commit_synchronously_even_where_the_server_says_off() -> None:
    url = empty_postgres()
    database = make_url(url).database
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{database}" SET synchronous_commit = off'))
    try:
        store = Store(url)
        try:
            with store.engine.connect() as conn:
                assert conn.execute(text("SHOW synchronous_commit")).scalar() == "on"
        finally:
            store.close()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" RESET synchronous_commit'))
        admin.dispose()
