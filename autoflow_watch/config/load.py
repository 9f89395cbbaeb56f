"""Read the TOML file, validate it whole, and resolve it into :class:`Config`.

Every problem found is reported, one line each, naming the file, the key path and what
is wrong, so an operator fixes a config in one pass rather than one error per restart.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from autoflow_watch.config.errors import ConfigError, problem
from autoflow_watch.config.model import AppConfig, WorkflowConfig
from autoflow_watch.config.notebooks import inspect_parameters, topological_order
from autoflow_watch.config.workflow import Notebook, Workflow

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
        workflow = _build_workflow(source, key, spec, app, problems)
        if workflow is not None:
            workflows[spec.name] = workflow
    if app.flowapi is not None:
        if (app.flowapi.token_file is None) == (app.flowapi.token_env is None):
            problems.append(problem(source, "flowapi", "set exactly one of token_file or token_env"))
    elif any(w.flowapi_token for w in workflows.values()):
        problems.append(problem(source, "workflow", "flowapi_token = true needs a [flowapi] section"))
    if app.execution.backend == "dask" and not app.execution.dask_scheduler:
        problems.append(
            problem(source, "execution.dask_scheduler", 'backend = "dask" needs dask_scheduler = "tcp://host:8786"')
        )
    if app.execution.lease_renew_interval >= app.execution.lease_timeout:
        problems.append(
            problem(source, "execution.lease_renew_interval", "must be shorter than execution.lease_timeout")
        )
    if problems:
        raise ConfigError(problems)
    return Config(source=source, app=app, workflows=workflows)


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
            message = "unknown key (check its spelling and section; see DESIGN.md for the keys)"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        elif item["type"] == "missing":
            message = "required key is missing"
        elif item["type"] == "literal_error":
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
    return app.model_copy(update=update)


def resolve_sqlite_url(url: str, base: Path) -> str:
    """Make the file of a ``sqlite:///relative.db`` URL relative to the config's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def _build_workflow(
    source: Path, key: str, spec: WorkflowConfig, app: AppConfig, problems: list[str]
) -> Workflow | None:
    before = len(problems)
    names = [nb.name for nb in spec.notebook]
    for index, nb in enumerate(spec.notebook):
        if names.count(nb.name) > 1 and names.index(nb.name) == index:
            problems.append(problem(source, f"{key}.notebook[{index}].name", f"notebook {nb.name!r} is defined twice"))
    declared: dict[str, frozenset[str]] = {}
    digests: dict[str, str] = {}
    notebooks_root = app.paths.notebooks
    for index, nb in enumerate(spec.notebook):
        nb_key = f"{key}.notebook[{index}]"
        path = (notebooks_root / nb.path).resolve()
        if not path.is_relative_to(notebooks_root):
            problems.append(
                problem(source, f"{nb_key}.path", f"{nb.path} is outside the notebooks folder {notebooks_root}")
            )
            continue
        if not path.is_file():
            problems.append(problem(source, f"{nb_key}.path", f"notebook file {path} does not exist"))
            continue
        try:
            declared[nb.name] = inspect_parameters(path)
            digests[nb.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        except ValueError as error:
            problems.append(problem(source, f"{nb_key}.path", str(error)))
        for u_index, upstream in enumerate(nb.upstream):
            u_key = f"{nb_key}.upstream[{u_index}]"
            if upstream not in names:
                problems.append(
                    problem(source, u_key, f"unknown notebook {upstream!r} (this workflow has: {', '.join(names)})")
                )
            elif not upstream.isidentifier():
                problems.append(
                    problem(
                        source,
                        u_key,
                        f"upstream {upstream!r} must be a Python identifier: it is passed as a parameter of that name",
                    )
                )
            elif nb.name in declared and upstream not in declared[nb.name]:
                problems.append(
                    problem(
                        source,
                        u_key,
                        f"notebook {nb.name!r} does not declare parameter {upstream!r} in its parameters cell; "
                        f"add `{upstream} = None` there",
                    )
                )
    order, cycle = topological_order({nb.name: list(nb.upstream) for nb in spec.notebook})
    if cycle:
        problems.append(problem(source, f"{key}.notebook", f"upstream cycle: {' -> '.join(cycle)}"))
    if len(declared) == len(spec.notebook):
        all_declared = frozenset().union(*declared.values())
        for parameter in spec.parameters:
            if parameter not in all_declared:
                problems.append(
                    problem(
                        source,
                        f"{key}.parameters.{parameter}",
                        f"no notebook of workflow {spec.name!r} declares {parameter!r} in its parameters cell",
                    )
                )
    if len(problems) > before:
        return None
    by_name = {nb.name: nb for nb in spec.notebook}
    ex = app.execution
    notebooks = tuple(
        Notebook(
            name=name,
            path=(notebooks_root / by_name[name].path).resolve(),
            upstream=tuple(by_name[name].upstream),
            declared=declared[name],
            report=by_name[name].report,
            source_sha256=digests[name],
        )
        for name in order
    )
    fingerprint = hashlib.sha256(
        spec.model_dump_json().encode() + "".join(digests[n] for n in order).encode()
    ).hexdigest()
    return Workflow(
        name=spec.name,
        datasets=tuple(spec.datasets),
        stencil=spec.date_stencil,
        earliest_date=spec.earliest_date,
        parameters=dict(spec.parameters),
        notebooks=notebooks,
        kernel=spec.kernel or ex.kernel,
        cell_timeout=spec.cell_timeout or ex.cell_timeout,
        run_timeout=spec.run_timeout or ex.run_timeout,
        max_attempts=spec.max_attempts or ex.max_attempts,
        retry_backoff=spec.retry_backoff or ex.retry_backoff,
        flowapi_token=spec.flowapi_token,
        on_redelivery=spec.on_redelivery,
        fingerprint=fingerprint,
    )
