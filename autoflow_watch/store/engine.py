"""Open the state store: an SQLAlchemy engine with SQLite tuned for a daemon, schema checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from autoflow_watch.store import schema


class StoreError(Exception):
    """The state store cannot be used; the message says which URL and what to do."""


def open_engine(url: str) -> Engine:
    """Create the engine, make the SQLite folder, and create or check the schema."""
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
    try:
        _ensure_schema(engine)
    except StoreError:
        raise
    except Exception as error:
        raise StoreError(f"cannot open state store {parsed.render_as_string(hide_password=True)}: {error}") from None
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _ensure_schema(engine: Engine) -> None:
    schema.metadata.create_all(engine)
    with engine.begin() as conn:
        row = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).first()
        if row is None:
            conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
        elif int(row[0]) > schema.SCHEMA_VERSION:
            raise StoreError(
                f"state store has schema version {row[0]}, newer than this autoflow-watch "
                f"understands ({schema.SCHEMA_VERSION}); upgrade autoflow-watch"
            )
