"""Open the state store: an SQLAlchemy engine with SQLite tuned for a daemon, schema migrated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from autoflow_watch.logs import get_logger
from autoflow_watch.store import migrate

log = get_logger("autoflow_watch.store")


class StoreError(Exception):
    """The state store cannot be used; the message says which URL and what to do."""


def open_engine(url: str) -> tuple[Engine, migrate.Upgrade]:
    """Create the engine, make the SQLite folder, and migrate the schema to this version's."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"state URL {url!r} is not an SQLAlchemy URL; use sqlite:///path.db or postgresql+psycopg://user@host/db"
        ) from None
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except Exception as error:
        raise StoreError(f"state URL {url!r}: {error}") from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _postgres_durable)
    shown = parsed.render_as_string(hide_password=True)
    try:
        upgrade = migrate.upgrade(engine, shown)
    except migrate.SchemaTooNew as error:
        engine.dispose()
        raise StoreError(str(error)) from None
    except Exception as error:
        engine.dispose()
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise StoreError(f"cannot open state store {shown}: {first}") from None
    if upgrade.applied:
        log.info("store.migrated", store=shown, before=upgrade.before, after=upgrade.after, applied=upgrade.applied)
    return engine, upgrade


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before it returns, so a marker moved to processed/ after the commit
    # cannot outlive its fact across a power cut (NORMAL in WAL mode may lose the last commits).
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _postgres_durable(dbapi_connection: Any, _record: Any) -> None:
    """A server set to ``synchronous_commit = off`` would acknowledge a fact before it is on disk:
    such a session is set back to ``on`` (stronger settings, ``remote_apply`` and the like, stay)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SHOW synchronous_commit")
    row = cursor.fetchone()
    if row and str(row[0]).lower() == "off":
        cursor.execute("SET synchronous_commit = on")
    cursor.close()
    dbapi_connection.commit()
