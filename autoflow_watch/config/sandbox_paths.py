"""What a sealed kernel may never reach, and the config checks of ``read_paths``, ``write_paths`` and ``connect_ports``.

The forbidden list is the daemon's own: its store, inbox, outbox and run folders, its
config and secret files, the credentials folder and its user's home. The daemon hands
the list to every kernel's seal (which grants nothing inside it) and refuses a granted
path that contains or lies inside one of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from autoflow_watch.config.errors import problem
from autoflow_watch.config.model import AppConfig, split_listen

CREDENTIALS = Path("/run/credentials")
POSTGRES_PORT = 5432


def forbidden_paths(app: AppConfig, source: Path) -> list[tuple[str, Path]]:
    """(what it is, path) for every folder and file a kernel may not read or write."""
    found: list[tuple[str, Path]] = [
        ("the inbox", app.paths.inbox),
        ("the outbox", app.paths.outbox),
        ("the work folder (every run's folder)", app.paths.work),
        ("the config file", source),
        ("the credentials folder", Path(os.environ.get("CREDENTIALS_DIRECTORY") or CREDENTIALS)),
        ("the daemon user's home", Path.home()),
        ("libpq's password file", Path(os.environ.get("PGPASSFILE") or Path.home() / ".pgpass")),
    ]
    store = sqlite_file(app.paths.state)
    if store is not None:
        found.append(("the state store's folder", store.parent))
    secrets = {
        "flowapi.token_file": app.flowapi.token_file if app.flowapi else None,
        "flowdb.password_file": app.flowdb.password_file if app.flowdb else None,
        "paths.state_password_file": getattr(app.paths, "state_password_file", None),
        "notify.urls_file": app.notify.urls_file if app.notify else None,
        "execution.dask_tls.key": app.execution.dask_tls.key if app.execution.dask_tls else None,
    }
    found += [(f"the secret file {key}", Path(path)) for key, path in secrets.items() if path is not None]
    return [(label, Path(os.path.realpath(path))) for label, path in found]


def sqlite_file(url: str) -> Path | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        return Path(url[len(prefix) :].split("?", 1)[0])
    return None


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def sandbox_problems(source: Path, app: AppConfig) -> list[str]:
    """Each granted path that does not exist, or contains or lies inside a forbidden one: one line each."""
    forbidden = forbidden_paths(app, source)
    home = Path(os.path.realpath(Path.home()))
    project = Path(os.path.realpath(source.parent))
    problems = []
    for index, spec in enumerate(app.workflow):
        for key in ("read_paths", "write_paths"):
            for position, entry in enumerate(getattr(spec, key)):
                where = f"workflow[{index}].{key}[{position}]"
                real = Path(os.path.realpath(entry))
                if not real.exists():
                    problems.append(problem(source, where, f"{entry} does not exist (create it, or remove the entry)"))
                    continue
                for label, path in forbidden:
                    if label == "the daemon user's home" and real != home and _within(real, project):
                        continue  # a folder of the config's own project inside the home (a checkout): fine
                    if _within(path, real) or _within(real, path):
                        relation = "is" if real == path else "contains" if _within(path, real) else "lies inside"
                        problems.append(
                            problem(source, where, f"{entry} {relation} {label} ({path}): a notebook may not reach it")
                        )
                        break
    return problems


def reserved_ports(app: AppConfig) -> dict[int, str]:
    """The ports of the daemon's own services that a kernel should not be granted: port -> what it is."""
    ports: dict[int, str] = {}
    if app.paths.state.startswith("postgresql"):
        ports[urlsplit(app.paths.state.replace("+psycopg", "")).port or POSTGRES_PORT] = "the state store's"
    if app.metrics is not None and app.metrics.listen:
        ports[split_listen(app.metrics.listen)[1]] = "the metrics page's"
    if app.execution.dask_scheduler:
        scheduler = urlsplit(app.execution.dask_scheduler).port
        if scheduler:
            ports[scheduler] = "the Dask scheduler's"
    return ports


def sandbox_warnings(source: Path, app: AppConfig) -> list[str]:
    """A granted port that is one of the daemon's own services: allowed, but worth a second look."""
    reserved = reserved_ports(app)
    return [
        problem(
            source,
            f"workflow[{index}].connect_ports[{position}]",
            f"port {port} is {reserved[port]} port: its kernels may connect to it on any host (Landlock grants a"
            " port, not an address); remove it unless the notebooks need that service",
        )
        for index, spec in enumerate(app.workflow)
        for position, port in enumerate(spec.connect_ports)
        if port in reserved
    ]
