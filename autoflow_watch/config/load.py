"""Read the TOML file, validate it whole, and resolve it into :class:`Config`.

Every problem found is reported, one line each, naming the file, the key path and what
is wrong, so an operator fixes a config in one pass rather than one error per restart.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from autoflow_watch.config.build import build_workflow
from autoflow_watch.config.dask import resolve_dask_paths
from autoflow_watch.config.errors import ConfigError, problem
from autoflow_watch.config.model import AppConfig
from autoflow_watch.config.notebooks import installed_kernels
from autoflow_watch.config.sandbox_paths import sandbox_problems
from autoflow_watch.config.state import state_problems
from autoflow_watch.config.workflow import Workflow
from autoflow_watch.extensions import EXECUTORS, hook

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class Config:
    """A loaded config: the file it came from, its settings with absolute paths, its workflows."""

    source: Path
    app: AppConfig
    workflows: dict[str, Workflow]

    @property
    def state_url(self) -> str:
        return self.app.paths.state


def load_config(path: str | Path) -> Config:
    """Load and fully validate a config file, or raise :class:`ConfigError`."""
    source = Path(path).absolute()
    raw = _read_toml(source)
    try:
        app = AppConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_pydantic_problems(source, error)) from None
    app = _resolve_paths(app, source.parent)
    problems: list[str] = []
    workflows: dict[str, Workflow] = {}
    seen: set[str] = set()
    for index, spec in enumerate(app.workflow):
        key = f"workflow[{index}]"
        if spec.name in seen:
            problems.append(problem(source, f"{key}.name", f"workflow {spec.name!r} is defined twice"))
            continue
        seen.add(spec.name)
        workflow = build_workflow(source, key, spec, app, problems)
        if workflow is not None:
            workflows[spec.name] = workflow
    if app.flowapi is not None:
        if (app.flowapi.token_file is None) == (app.flowapi.token_env is None):
            problems.append(problem(source, "flowapi", "set exactly one of token_file or token_env"))
    elif any(w.flowapi_token for w in workflows.values()):
        problems.append(problem(source, "workflow", "flowapi_token = true needs a [flowapi] section"))
    problems += _folder_problems(source, app)
    problems += _flowdb_problems(source, app)
    problems += state_problems(source, app.paths)
    for entry in EXECUTORS.values():  # each backend checks its own keys, chosen or not
        check = hook(entry.settings_check)
        problems += check(source, app.execution) if check else []
    if EXECUTORS[app.execution.backend].kernels_here:  # Dask's kernels live on its workers: `validate` asks them
        problems += _kernel_problems(source, app)
    problems += _notify_problems(source, app)
    problems += sandbox_problems(source, app)
    if app.execution.lease_renew_interval >= app.execution.lease_timeout:
        problems.append(
            problem(source, "execution.lease_renew_interval", "must be shorter than execution.lease_timeout")
        )
    if problems:
        raise ConfigError(problems)
    return Config(source=source, app=app, workflows=workflows)


def _notify_problems(source: Path, app: AppConfig) -> list[str]:
    """[metrics] must export somewhere; every Apprise URL must parse (named by its scheme: URLs are secrets)."""
    problems = []
    if app.metrics is not None and app.metrics.listen is None and app.metrics.textfile is None:
        problems.append(problem(source, "metrics", "set listen, textfile or both (or remove [metrics])"))
    if app.notify is None:
        return problems
    from autoflow_watch.config.notify_urls import urls_problems

    return problems + [problem(source, key, message) for key, message in urls_problems(app.notify)]


def _flowdb_problems(source: Path, app: AppConfig) -> list[str]:
    """``[flowdb]`` needs psycopg 3 (>= 3.2.4: LISTEN without losing a notification), an optional extra."""
    if app.flowdb is None:
        return []
    try:
        installed = importlib.metadata.version("psycopg")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    parts = tuple(int(p) for p in re.findall(r"\d+", installed or "")[:3])
    if installed is None or parts < (3, 2, 4):
        have = f"psycopg {installed} is installed" if installed else "psycopg is not installed"
        return [problem(source, "flowdb", f"needs psycopg >= 3.2.4 ({have}); pip install 'autoflow-watch[flowdb]'")]
    return []


def _folder_problems(source: Path, app: AppConfig) -> list[str]:
    """The folders the daemon creates at start must be folders where they already exist."""
    paths = app.paths
    return [
        problem(source, f"paths.{key}", f"{folder} exists and is not a folder (move it, or name another folder)")
        for key, folder in (("inbox", paths.inbox), ("outbox", paths.outbox), ("work", paths.work))
        if folder.exists() and not folder.is_dir()
    ]


def _kernel_problems(source: Path, app: AppConfig) -> list[str]:
    """A kernel name that is not installed would fail every run of its workflows: refuse it now."""
    wanted = {f"workflow[{i}].kernel": spec.kernel for i, spec in enumerate(app.workflow) if spec.kernel}
    if len(wanted) < len(app.workflow):  # some workflow uses the [execution] default
        wanted["execution.kernel"] = app.execution.kernel
    if not wanted:
        return []
    installed = installed_kernels()
    return [
        problem(
            source,
            key,
            f"no Jupyter kernel named {name!r} is installed here (installed: {', '.join(sorted(installed)) or 'none'});"
            f" install it (`python -m ipykernel install --name {name}`) or name one of those",
        )
        for key, name in wanted.items()
        if name not in installed
    ]


def _read_toml(source: Path) -> dict[str, Any]:
    try:
        with source.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            [problem(source, "", "config file not found; pass --config with the path of your TOML file")]
        ) from None
    except OSError as error:
        raise ConfigError([problem(source, "", f"cannot read config file: {error.strerror}")]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([problem(source, "", f"not valid TOML: {error}")]) from None


def _pydantic_problems(source: Path, error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        key_path = _key_path(item["loc"])
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling and section; config/example.toml and docs/ list the keys)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        elif item["type"] == "missing":
            message = "required key is missing"
        elif item["type"] in ("literal_error", "enum"):  # name what was written, as for a backend
            message = f"{message}, got {item.get('input')!r}"
        lines.append(problem(source, key_path, message))
    return lines


def _key_path(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for element in loc:
        if isinstance(element, int) and parts:
            parts[-1] += f"[{element}]"
        elif isinstance(element, str) and element.startswith(("function-", "lax-or-strict", "json-or-python")):
            continue
        else:
            parts.append(str(element))
    return ".".join(parts)


def _resolve_paths(app: AppConfig, base: Path) -> AppConfig:
    def absolute(p: Path) -> Path:
        return (base / p.expanduser()).resolve() if not p.expanduser().is_absolute() else p.expanduser()

    paths = app.paths.model_copy(
        update={
            "notebooks": absolute(app.paths.notebooks),
            "inbox": absolute(app.paths.inbox),
            "outbox": absolute(app.paths.outbox),
            "work": absolute(app.paths.work),
            "state": resolve_sqlite_url(app.paths.state, base),
            "state_password_file": absolute(app.paths.state_password_file) if app.paths.state_password_file else None,
        }
    )
    update: dict[str, Any] = {"paths": paths}
    if app.flowapi is not None:
        flow_update: dict[str, Any] = {}
        if app.flowapi.token_file is not None:
            flow_update["token_file"] = absolute(app.flowapi.token_file)
        if isinstance(app.flowapi.ssl_certificate, Path):
            flow_update["ssl_certificate"] = absolute(app.flowapi.ssl_certificate)
        update["flowapi"] = app.flowapi.model_copy(update=flow_update)
    if app.notify is not None and app.notify.urls_file is not None:
        update["notify"] = app.notify.model_copy(update={"urls_file": absolute(app.notify.urls_file)})
    if app.metrics is not None and app.metrics.textfile is not None:
        update["metrics"] = app.metrics.model_copy(update={"textfile": absolute(app.metrics.textfile)})
    if app.flowdb is not None and app.flowdb.password_file is not None:
        update["flowdb"] = app.flowdb.model_copy(update={"password_file": absolute(app.flowdb.password_file)})
    update["workflow"] = [
        spec.model_copy(
            update={
                "read_paths": [absolute(p) for p in spec.read_paths],
                "write_paths": [absolute(p) for p in spec.write_paths],
            }
        )
        for spec in app.workflow
    ]
    return resolve_dask_paths(app.model_copy(update=update), absolute)


def resolve_sqlite_url(url: str, base: Path) -> str:
    """Make the file of a ``sqlite:///relative.db`` URL relative to the config's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url
