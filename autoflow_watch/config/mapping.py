"""AutoFlow's per-notebook parameter mapping: ``parameters = { NAME = "SOURCE" }``.

A notebook with a mapping receives exactly the mapped parameters: ``NAME`` gets the value of
``SOURCE``, which is a run-level name, a key of the workflow's ``parameters``, or another
notebook of the workflow (the path of its executed copy; that notebook becomes an upstream).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from autoflow_watch.config.model import NotebookConfig, WorkflowConfig

# What the daemon passes to every run (executor/params.py builds the values; a test pins that both agree).
RUN_LEVEL_SOURCES = ("reference_date", "date_ranges", "workflow_name", "run_id", "flowapi_url")

AddProblem = Callable[[str, str], None]  # (key path below the workflow, message)


def mapped_upstreams(spec: WorkflowConfig, notebook: NotebookConfig) -> list[str]:
    """The notebook's upstreams: those it lists, then every notebook its mapping names, in order."""
    names = {nb.name for nb in spec.notebook}
    upstream = list(notebook.upstream)
    for source in (notebook.parameters or {}).values():
        derived = source in names and source not in RUN_LEVEL_SOURCES and source not in spec.parameters
        if derived and source not in upstream:
            upstream.append(source)
    return upstream


def check_mapping(
    spec: WorkflowConfig,
    index: int,
    declared: frozenset[str] | None,
    flowapi_configured: bool,
    add: AddProblem,
) -> None:
    """Check notebook ``index``'s mapping; ``declared`` is None when its parameters are unknown."""
    notebook = spec.notebook[index]
    names = [nb.name for nb in spec.notebook]
    for name, source in (notebook.parameters or {}).items():
        key = f".notebook[{index}].parameters.{name}"
        if not name.isidentifier():
            add(key, f"parameter name {name!r} (mapped from {source!r}) must be a Python identifier")
            continue
        problem = _source_problem(spec, notebook.name, source, names, flowapi_configured)
        if problem:
            add(key, f"parameter {name!r} of notebook {notebook.name!r}: {problem}")
        if declared is not None and name not in declared:
            add(
                key,
                f"notebook {notebook.name!r} does not declare parameter {name!r} (mapped from {source!r}) "
                f"in its parameters cell; add `{name} = None` there or remove the mapping",
            )


def _source_problem(
    spec: WorkflowConfig, own: str, source: str, names: list[str], flowapi_configured: bool
) -> str | None:
    kinds = [
        kind
        for kind, matches in (
            ("a run-level name", source in RUN_LEVEL_SOURCES),
            ("a key of the workflow's parameters", source in spec.parameters),
            ("a notebook of the workflow", source in names),
        )
        if matches
    ]
    if len(kinds) > 1:
        return f"source {source!r} is ambiguous: it is {' and '.join(kinds)}; rename the notebook or the parameter"
    if not kinds:
        return (
            f"unknown source {source!r}: not a run-level name ({', '.join(RUN_LEVEL_SOURCES)}), "
            f"a key of the parameters of workflow {spec.name!r} ({', '.join(spec.parameters) or 'none'}) "
            f"nor a notebook of it ({', '.join(names)})"
        )
    if source == own:
        return f"source {source!r} is this notebook itself"
    if source == "flowapi_url" and not flowapi_configured:
        return "source 'flowapi_url' needs a [flowapi] section with its url"
    return None


def consumed_parameters(spec: WorkflowConfig, declared: Mapping[str, frozenset[str]]) -> set[str]:
    """Workflow parameters some notebook receives: declared by an unmapped one, or a mapping's source."""
    used: set[str] = set()
    for nb in spec.notebook:
        if nb.parameters is None:
            used |= declared.get(nb.name, frozenset())
        else:
            used |= set(nb.parameters.values())
    return used
