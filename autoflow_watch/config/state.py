"""``[paths] state`` and ``state_password_file``: checked at start, never printing a password."""

from __future__ import annotations

from pathlib import Path

from autoflow_watch.config.errors import problem
from autoflow_watch.config.model import PathsConfig
from autoflow_watch.secrets import register_secret, url_without_password

EXAMPLE = "sqlite:///var/state/autoflow.db or postgresql+psycopg://user@host/db"


def state_problems(source: Path, paths: PathsConfig) -> list[str]:
    """The state URL parses; ``state_password_file`` goes with a PostgreSQL URL that carries no password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(paths.state)
    except (ArgumentError, ValueError):
        shown = url_without_password(paths.state)
        return [problem(source, "paths.state", f"{shown} is not an SQLAlchemy URL; use {EXAMPLE}")]
    register_secret(url.password if isinstance(url.password, str) else None)
    try:
        url.get_dialect()  # the driver is importable
    except Exception as error:
        return [
            problem(
                source,
                "paths.state",
                f"{url.drivername}:// cannot be used ({type(error).__name__}); use sqlite:/// or postgresql+psycopg:// "
                "(pip install 'autoflow-watch[postgres]')",
            )
        ]
    if paths.state_password_file is None:
        return []
    if url.get_backend_name() != "postgresql":
        return [problem(source, "paths.state_password_file", "is for a PostgreSQL store; remove it for SQLite")]
    if url.password is not None:
        return [
            problem(source, "paths.state", "carries a password and state_password_file is set: remove it from the URL")
        ]
    return []
