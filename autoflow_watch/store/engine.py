"""Open the state store: an SQLAlchemy engine with SQLite tuned for a daemon, schema migrated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from autoflow_watch.logs import get_logger
from autoflow_watch.secrets import SecretFileError, read_secret_file, redact, register_secret, url_without_password
from autoflow_watch.store import migrate

log = get_logger("autoflow_watch.store")


class StoreError(Exception):
    """The state store cannot be used; the message says which URL and what to do."""


def shown_url(url: str) -> str:
    """``url`` as it may be printed: never its password, whether or not it parses."""
    try:
        return url_without_password(make_url(url).render_as_string(hide_password=True))
    except Exception:
        return url_without_password(url)


def open_engine(url: str, password_file: Path | None = None) -> tuple[Engine, migrate.Upgrade]:
    """Create the engine, make the SQLite folder, and migrate the schema to this version's.

    ``password_file`` (``[paths] state_password_file``) is read at every new connection, so a
    rotated password needs no restart and the config need not hold it.
    """
    shown = shown_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StoreError(
            f"state URL {shown} is not an SQLAlchemy URL; use sqlite:///path.db or postgresql+psycopg://user@host/db"
        ) from None
    register_secret(parsed.password if isinstance(parsed.password, str) else None)
    engine = _create(parsed, shown)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif parsed.get_backend_name() == "postgresql":
        event.listen(engine, "connect", _postgres_durable)
    if password_file is not None:
        event.listen(engine, "do_connect", _password_from(password_file))
    elif parsed.password is not None:
        log.warning(
            "store.password_in_url",
            store=shown,
            hint="put the password in [paths] state_password_file (a secret file) and remove it from the URL",
        )
    return engine, _migrate(engine, shown)


def _create(parsed: URL, shown: str) -> Engine:
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        return create_engine(parsed, **kwargs)
    except Exception as error:  # a driver that is not installed, a bad option
        raise StoreError(f"state URL {shown}: {redact(str(error))}") from None


def _migrate(engine: Engine, shown: str) -> migrate.Upgrade:
    try:
        upgrade = migrate.upgrade(engine, shown)
    except migrate.SchemaTooNew as error:
        engine.dispose()
        raise StoreError(str(error)) from None
    except Exception as error:
        engine.dispose()
        text = redact(str(error)).strip()
        first = text.splitlines()[0] if text else type(error).__name__
        raise StoreError(f"cannot open state store {shown}: {first}") from None
    if upgrade.applied:
        log.info("store.migrated", store=shown, before=upgrade.before, after=upgrade.after, applied=upgrade.applied)
    return upgrade


def _password_from(path: Path) -> Callable[..., None]:
    def set_password(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        try:
            cparams["password"] = read_secret_file(path, "state password file")
        except SecretFileError as error:  # the store's outage handling says it; the fix is in the message
            raise StoreError(f"{error}; fix [paths] state_password_file") from None

    return set_password


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
