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

import math
import os
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy.engine import make_url

from autoflow_watch.config.model import FlowDbConfig
from autoflow_watch.secrets import REDACTED, SecretFileError, read_secret_file, register_secret
from autoflow_watch.sources.source import PollError, PollFailure

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


def safe_url(config: FlowDbConfig) -> str:
    """The URL as logged (it never holds a password: the config refuses one)."""
    return make_url(config.url).render_as_string(hide_password=True)


def read_password(path: Path) -> str:
    """The password in ``path`` (one line; a trailing newline is not part of it)."""
    try:
        return read_secret_file(path, "FlowDB password file")
    except SecretFileError as error:
        raise PollError(PollFailure.PASSWORD_FILE, str(error)) from None


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
    """A new autocommit, read-only connection, or :class:`PollError`."""
    arguments = connect_arguments(config)
    secrets = [arguments.get("password", ""), os.environ.get("PGPASSWORD", "")]
    try:
        return psycopg.connect(autocommit=True, **arguments)
    except psycopg.Error as error:
        raise classify(error, secrets) from None


def classify(error: BaseException, secrets: list[str] | None = None) -> PollError:
    """Map a psycopg error (on connect or on a query) to a :class:`PollFailure` and a safe message."""
    text = scrub(f"{error}", secrets or [])
    if isinstance(error, pg_errors.QueryCanceled) or "timeout expired" in text:
        return PollError(PollFailure.TIMEOUT, f"FlowDB did not answer in time ({text})")
    if isinstance(error, pg_errors.InsufficientPrivilege):
        return PollError(PollFailure.NO_PRIVILEGE, f"FlowDB denied access ({text})")
    if isinstance(error, (pg_errors.UndefinedTable, pg_errors.InvalidSchemaName)):
        return PollError(PollFailure.NO_TABLE, f"FlowDB has no etl.etl_records ({text})")
    if isinstance(error, (pg_errors.InvalidAuthorizationSpecification, pg_errors.InvalidPassword)):
        return PollError(PollFailure.REFUSED, f"FlowDB refused the connection ({text})")
    if isinstance(error, psycopg.OperationalError) and getattr(error, "sqlstate", None) is None:
        fatal = text.partition("FATAL:")[2].lower()
        refused = any(word in fatal for word in _REFUSALS)
        if refused or "fe_sendauth" in text:  # libpq itself: the server wants a password we do not have
            return PollError(PollFailure.REFUSED, f"FlowDB refused the connection ({text})")
        return PollError(PollFailure.UNREACHABLE, f"cannot reach FlowDB ({text})")
    if isinstance(error, psycopg.OperationalError):
        return PollError(PollFailure.UNREACHABLE, f"lost FlowDB ({text})")
    return PollError(PollFailure.ERROR, f"unexpected error from FlowDB ({type(error).__name__}: {text})")


def scrub(text: str, secrets: list[str], limit: int = 400) -> str:
    """One line, at most ``limit`` characters, with every secret replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
