"""Schema migrations: bring a store to this version's schema, one process at a time.

The revisions are Alembic's (``store/migrations/versions``). A store made by release 1 has the
tables but no ``alembic_version``: it is stamped with the first revision, then upgraded in place.
A store at a revision this version does not know was written by a newer version and is refused.

Several daemons may start at once on one store: the migration runs under a lock, a PostgreSQL
advisory lock (held by the migrating connection) or, for SQLite, an ``flock`` on ``<db>.migrate.lock``
beside the database. The others wait for it, then find nothing left to do.

Alembic is imported only when there is something to do: a store already at :data:`HEAD` (every
start but the first after an upgrade) is checked with one query of its ``alembic_version``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from autoflow_watch import __version__

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
RELEASE1 = "0001_release1"
HEAD = "0004_reuse"  # the newest revision in migrations/versions (tests/store: it is Alembic's head)
ADVISORY_LOCK_KEY = 0x6166775F6D6967  # "afw_mig": one key for every autoflow-watch store


class SchemaTooNew(Exception):
    """The store was written by a newer autoflow-watch; the message says what to do."""


@dataclass(frozen=True)
class Upgrade:
    """What :func:`upgrade` found and did: the revisions applied, oldest first."""

    before: str | None  # None: an empty store
    after: str
    applied: list[str] = field(default_factory=list)


def _alembic_config(connection: Connection) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def scripts() -> ScriptDirectory:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def head() -> str:
    """The newest revision this version knows."""
    revision = scripts().get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The store's revision: Alembic's, ``0001_release1`` for a release-1 store, None when empty."""
    from alembic.runtime.migration import MigrationContext

    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None and inspect(connection).has_table("runs"):
        return RELEASE1
    return revision


def _known(revision: str) -> bool:
    return revision in {script.revision for script in scripts().walk_revisions()}


def check_known(revision: str | None, url: str) -> None:
    if revision is not None and not _known(revision):
        raise SchemaTooNew(
            f"state store {url} is at schema revision {revision!r}, which autoflow-watch {__version__} does not "
            f"know (newest known: {head()!r}): a newer autoflow-watch wrote it; upgrade autoflow-watch"
        )


def pending(connection: Connection) -> list[str]:
    """Revisions :func:`upgrade` would apply, oldest first (none: the store is current)."""
    revision = current(connection)
    return _between(revision, head())


def _between(start: str | None, end: str) -> list[str]:
    if start == end:
        return []
    steps = scripts().iterate_revisions(end, start or "base")
    return [script.revision for script in reversed(list(steps))]


def upgrade(engine: Engine, url: str) -> Upgrade:
    """Migrate the store to :func:`head` under the migration lock; return what was applied."""
    with _migration_lock(engine) as connection:
        if _at_head(connection):  # the usual start: nothing to do, no Alembic to import
            connection.commit()
            return Upgrade(HEAD, HEAD, [])
        before = current(connection)
        check_known(before, url)
        target = head()
        applied = _between(before, target)
        if applied:  # in the transaction that read the revision: all revisions or none
            from alembic import command
            from alembic.runtime.migration import MigrationContext

            config = _alembic_config(connection)
            if before == RELEASE1 and MigrationContext.configure(connection).get_current_revision() is None:
                command.stamp(config, RELEASE1)  # release 1 made the tables; Alembic did not
            command.upgrade(config, target)
        connection.commit()
        return Upgrade(before, target, applied)


def _at_head(connection: Connection) -> bool:
    """The store is at :data:`HEAD`, read with one query (as Alembic keeps it: one row in ``alembic_version``)."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows == [HEAD]


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[Connection]:
    """A connection that alone may migrate: other processes wait here until it is done."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            connection.commit()
            try:
                yield connection
            finally:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
                connection.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        with engine.connect() as connection:
            yield connection
        return
    fd = os.open(f"{database}.migrate.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks while another process migrates
        with engine.connect() as connection:
            yield connection
    finally:
        os.close(fd)  # closing the descriptor releases the lock
