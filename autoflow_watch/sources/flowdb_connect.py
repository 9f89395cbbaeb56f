"""Connecting to FlowDB with psycopg 3: the URL, the password, the limits, and what failures mean.

The ``[flowdb] url`` is a SQLAlchemy-style URL without a password. The password comes from
``password_file`` (re-read at every connection, so it can be rotated without a restart), or
libpq finds it itself (``PGPASSFILE``, ``~/.pgpass``, ``PGPASSWORD``), or there is none. It
is registered as a secret before anything can fail and print it, and removed from every
error text psycopg or libpq produces before that text is logged.

Each session is read-only (``default_transaction_read_only``), bounded in time
(``connect_timeout``, ``statement_timeout``), kept alive by TCP keepalives so a dead peer is
noticed, and says who it is (``application_name``) to FlowDB's operators.
"""

from __future__ import annotations

import enum
import math
import os
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy.engine import make_url

from autoflow_watch.config.model import FlowDbConfig
from autoflow_watch.secrets import REDACTED, SecretFileError, read_secret_file, register_secret

APPLICATION_NAME = "autoflow-watch"
_REFUSALS = (  # what FATAL says when the server refuses us (not when it is starting or stopping)
    "password authentication failed",
    "authentication failed for user",
    'role "',  # role "x" does not exist / is not permitted to log in
    "no pg_hba.conf entry",
    "pg_hba.conf rejects",
    "permission denied for database",
    'database "',  # database "x" does not exist
)


class FlowDbFailure(str, enum.Enum):
    """Why a poll of FlowDB failed: what operators filter the logs on."""

    UNREACHABLE = "unreachable"  # down, restarting, connection lost, network
    TIMEOUT = "timeout"  # connect_timeout or statement_timeout
    REFUSED = "refused"  # authentication: bad password, unknown role, pg_hba.conf
    NO_PRIVILEGE = "no_privilege"  # no USAGE on schema etl or no SELECT on etl.etl_records
    NO_TABLE = "no_table"  # not a FlowDB: etl.etl_records is missing
    PASSWORD_FILE = "password_file"  # the password file is missing, unreadable or empty
    STORE = "store_error"  # recording the facts in our own store failed
    ERROR = "error"  # anything else

    @property
    def needs_action(self) -> bool:
        """Conditions a person must fix (a password, a grant, a URL) are errors, not warnings."""
        return self in _NEEDS_ACTION


_NEEDS_ACTION = frozenset(
    {FlowDbFailure.REFUSED, FlowDbFailure.NO_PRIVILEGE, FlowDbFailure.NO_TABLE, FlowDbFailure.PASSWORD_FILE}
)


class FlowDbError(Exception):
    """A failed poll: ``failure`` says why, ``message`` is safe to log (no password in it)."""

    def __init__(self, failure: FlowDbFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


def safe_url(config: FlowDbConfig) -> str:
    """The URL as logged (it never holds a password: the config refuses one)."""
    return make_url(config.url).render_as_string(hide_password=True)


def read_password(path: Path) -> str:
    """The password in ``path`` (one line; a trailing newline is not part of it)."""
    try:
        return read_secret_file(path, "FlowDB password file")
    except SecretFileError as error:
        raise FlowDbError(FlowDbFailure.PASSWORD_FILE, str(error)) from None


def connect_arguments(config: FlowDbConfig) -> dict[str, Any]:
    """psycopg.connect keyword arguments for ``config`` (password included when there is a file)."""
    url = make_url(config.url)
    arguments: dict[str, Any] = {
        key: value if isinstance(value, str) else ",".join(value) for key, value in url.query.items()
    }
    for key, value in (("host", url.host), ("port", url.port), ("dbname", url.database), ("user", url.username)):
        if value is not None:
            arguments.setdefault(key, str(value))
    timeout = config.timeout.total_seconds()
    options = f"-c default_transaction_read_only=on -c statement_timeout={int(timeout * 1000)} -c DateStyle=ISO"
    arguments.update(
        connect_timeout=str(max(2, math.ceil(timeout))),
        options=options,
        application_name=APPLICATION_NAME,
        keepalives="1",
        keepalives_idle="30",
        keepalives_interval="10",
        keepalives_count="3",
    )
    if "sslmode" not in arguments and not os.environ.get("PGSSLMODE") and not arguments.get("host", "").startswith("/"):
        # TLS unless the URL (or libpq's PGSSLMODE) says otherwise; libpq's own default, "prefer", falls back
        # to plain text silently. A Unix socket (a host that is a folder) has no TLS, and libpq ignores it there.
        arguments["sslmode"] = "require"
    register_secret(os.environ.get("PGPASSWORD"))
    if config.password_file is not None:
        arguments["password"] = read_password(config.password_file)
    return arguments


def connect(config: FlowDbConfig) -> psycopg.Connection[Any]:
    """A new autocommit, read-only connection, or :class:`FlowDbError`."""
    arguments = connect_arguments(config)
    secrets = [arguments.get("password", ""), os.environ.get("PGPASSWORD", "")]
    try:
        return psycopg.connect(autocommit=True, **arguments)
    except psycopg.Error as error:
        raise classify(error, secrets) from None


def classify(error: BaseException, secrets: list[str] | None = None) -> FlowDbError:
    """Map a psycopg error (on connect or on a query) to a :class:`FlowDbFailure` and a safe message."""
    text = scrub(f"{error}", secrets or [])
    if isinstance(error, pg_errors.QueryCanceled) or "timeout expired" in text:
        return FlowDbError(FlowDbFailure.TIMEOUT, f"FlowDB did not answer in time ({text})")
    if isinstance(error, pg_errors.InsufficientPrivilege):
        return FlowDbError(FlowDbFailure.NO_PRIVILEGE, f"FlowDB denied access ({text})")
    if isinstance(error, (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName)):
        return FlowDbError(FlowDbFailure.NO_TABLE, f"FlowDB has no etl.etl_records ({text})")
    if isinstance(error, (pg_errors.InvalidAuthorizationSpecification, pg_errors.InvalidPassword)):
        return FlowDbError(FlowDbFailure.REFUSED, f"FlowDB refused the connection ({text})")
    if isinstance(error, psycopg.OperationalError) and getattr(error, "sqlstate", None) is None:
        fatal = text.partition("FATAL:")[2].lower()
        refused = any(word in fatal for word in _REFUSALS)
        if refused or "fe_sendauth" in text:  # libpq itself: the server wants a password we do not have
            return FlowDbError(FlowDbFailure.REFUSED, f"FlowDB refused the connection ({text})")
        return FlowDbError(FlowDbFailure.UNREACHABLE, f"cannot reach FlowDB ({text})")
    if isinstance(error, psycopg.OperationalError):
        return FlowDbError(FlowDbFailure.UNREACHABLE, f"lost FlowDB ({text})")
    return FlowDbError(FlowDbFailure.ERROR, f"unexpected error from FlowDB ({type(error).__name__}: {text})")


def scrub(text: str, secrets: list[str], limit: int = 400) -> str:
    """One line, at most ``limit`` characters, with every secret replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
