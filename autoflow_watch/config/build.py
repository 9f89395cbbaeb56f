"""Check one ``[[workflow]]`` table against its notebooks and resolve it into a :class:`Workflow`.

Each check appends its findings to a shared list instead of raising, so one `validate` shows
every problem of every workflow at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from autoflow_watch.config.errors import problem
from autoflow_watch.config.mapping import check_mapping, consumed_parameters, mapped_upstreams
from autoflow_watch.config.model import AppConfig, WorkflowConfig
from autoflow_watch.config.notebooks import inspect_parameters, topological_order
from autoflow_watch.config.workflow import Notebook, Workflow


@dataclass
class _Findings:
    """What the checks learnt of one workflow's notebooks, and what is wrong with them."""

    source: Path
    key: str
    problems: list[str]
    declared: dict[str, frozenset[str]] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    located: set[str] = field(default_factory=set)

    def add(self, key_path: str, message: str) -> None:
        self.problems.append(problem(self.source, f"{self.key}{key_path}", message))


def build_workflow(
    source: Path, key: str, spec: WorkflowConfig, app: AppConfig, problems: list[str]
) -> Workflow | None:
    """The workflow of ``spec``, or None after appending to ``problems`` why it cannot be built."""
    before = len(problems)
    found = _Findings(source, key, problems)
    _check_unique_names(spec, found)
    _inspect_notebooks(spec, app.paths.notebooks, found)
    _check_upstreams(spec, found)
    for index, nb in enumerate(spec.notebook):
        if nb.name in found.located:
            check_mapping(spec, index, found.declared.get(nb.name), app.flowapi is not None, found.add)
    order, cycle = topological_order({nb.name: mapped_upstreams(spec, nb) for nb in spec.notebook})
    if cycle:
        found.add(".notebook", f"upstream cycle: {' -> '.join(cycle)}")
    _check_parameters(spec, found)
    if len(problems) > before:
        return None
    return _assemble(spec, app, order, found)


def _check_unique_names(spec: WorkflowConfig, found: _Findings) -> None:
    names = [nb.name for nb in spec.notebook]
    for index, nb in enumerate(spec.notebook):
        if names.count(nb.name) > 1 and names.index(nb.name) == index:
            found.add(f".notebook[{index}].name", f"notebook {nb.name!r} is defined twice")


def _inspect_notebooks(spec: WorkflowConfig, root: Path, found: _Findings) -> None:
    """Locate each notebook inside the notebooks folder and read the parameters it declares."""
    for index, nb in enumerate(spec.notebook):
        nb_key = f".notebook[{index}].path"
        path = (root / nb.path).resolve()
        if not path.is_relative_to(root):
            found.add(nb_key, f"{nb.path} is outside the notebooks folder {root}")
            continue
        if not path.is_file():
            found.add(nb_key, f"notebook file {path} does not exist")
            continue
        found.located.add(nb.name)
        try:
            found.declared[nb.name] = inspect_parameters(path)
            found.digests[nb.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        except ValueError as error:
            found.add(nb_key, str(error))


def _check_upstreams(spec: WorkflowConfig, found: _Findings) -> None:
    names = [nb.name for nb in spec.notebook]
    for index, nb in enumerate(spec.notebook):
        if nb.name not in found.located:
            continue  # its file is missing: that one problem says enough about it
        for u_index, upstream in enumerate(nb.upstream):
            u_key = f".notebook[{index}].upstream[{u_index}]"
            if upstream not in names:
                found.add(u_key, f"unknown notebook {upstream!r} (this workflow has: {', '.join(names)})")
            elif not upstream.isidentifier():
                found.add(u_key, f"upstream {upstream!r} must be a Python identifier: it becomes a parameter name")
            elif nb.parameters is None and nb.name in found.declared and upstream not in found.declared[nb.name]:
                found.add(
                    u_key,
                    f"notebook {nb.name!r} does not declare parameter {upstream!r} in its parameters cell; "
                    f"add `{upstream} = None` there",
                )


def _check_parameters(spec: WorkflowConfig, found: _Findings) -> None:
    """A workflow parameter that no notebook declares would be silently dropped: refuse it."""
    if len(found.declared) != len(spec.notebook):
        return  # some notebook could not be read; what it declares is unknown
    consumed = consumed_parameters(spec, found.declared)
    for parameter in spec.parameters:
        if parameter not in consumed:
            found.add(
                f".parameters.{parameter}",
                f"no notebook of workflow {spec.name!r} declares {parameter!r} in its parameters cell"
                " (or maps a parameter from it)",
            )


def _assemble(spec: WorkflowConfig, app: AppConfig, order: list[str], found: _Findings) -> Workflow:
    by_name = {nb.name: nb for nb in spec.notebook}
    root = app.paths.notebooks
    notebooks = tuple(
        Notebook(
            name=name,
            path=(root / by_name[name].path).resolve(),
            upstream=tuple(mapped_upstreams(spec, by_name[name])),
            declared=found.declared[name],
            report=by_name[name].report,
            source_sha256=found.digests[name],
            mapping=None if by_name[name].parameters is None else dict(by_name[name].parameters or {}),
        )
        for name in order
    )
    fingerprint = hashlib.sha256(
        spec.model_dump_json().encode() + "".join(found.digests[n] for n in order).encode()
    ).hexdigest()
    ex = app.execution
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
        reuse=spec.reuse,
        fingerprint=fingerprint,
        datasets_match=spec.datasets_match,
        read_paths=tuple(spec.read_paths),
        write_paths=tuple(spec.write_paths),
        connect_ports=tuple(spec.connect_ports),
    )
