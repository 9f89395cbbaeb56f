"""AutoFlow's records in this project's terms: one ``[[workflow]]`` per entry of the sensor's list.

Every value means here what it meant to AutoFlow: the notebooks receive the same parameters
(dates as the ISO strings AutoFlow's JSON round trip made of them), the same dates run
(``datasets_match = "any"`` is AutoFlow's union of CDR types, the stencil is the same half-open
stencil), and the DAG follows the mapping. What cannot mean the same is named in the findings.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from autoflow_watch.autoflow_import.reader import CDR_TYPES, AutoFlowSpec, Findings, SensorEntry, WorkflowSpec
from autoflow_watch.config.model import NAME_PATTERN
from autoflow_watch.config.stencil import Stencil, StencilError, parse_stencil

AUTOMATIC = ("reference_date", "date_ranges", "flowapi_url")  # what AutoFlow passed without being told


@dataclass(frozen=True)
class NotebookTable:
    """A ``[[workflow.notebook]]`` table to write."""

    name: str
    path: str
    parameters: dict[str, str]
    pdf: bool


@dataclass(frozen=True)
class WorkflowTable:
    """A ``[[workflow]]`` table to write, with where it came from."""

    name: str
    origin: str  # the sensor entry's key path, for the comment above the table
    autoflow_name: str
    datasets: list[str]
    stencil: Stencil | None
    earliest_date: dt.date | None
    parameters: dict[str, Any]
    notebooks: list[NotebookTable]


def translate(spec: AutoFlowSpec, findings: Findings) -> list[WorkflowTable]:
    """The workflow tables for every sensor entry that can be carried over, in the sensor's order."""
    datasets = list(spec.cdr_types) if spec.cdr_types else list(CDR_TYPES)
    if not spec.cdr_types:
        findings.note(
            "available_dates_sensor.cdr_types", f"not set: every CDR type is a dataset ({', '.join(datasets)})"
        )
    tables: list[WorkflowTable] = []
    used: set[str] = set()
    listed = {entry.workflow_name for entry in spec.entries}
    for name in spec.workflows:
        if name not in listed:
            findings.note("workflows", f"workflow {name!r} is not in the sensor's list: AutoFlow never ran it; skipped")
    for entry in spec.entries:
        table = _table(spec.workflows[entry.workflow_name], entry, datasets, used, findings)
        if table is not None:
            used.add(table.name)
            tables.append(table)
    return tables


def _table(
    workflow: WorkflowSpec, entry: SensorEntry, datasets: list[str], used: set[str], findings: Findings
) -> WorkflowTable | None:
    stencil: Stencil | None = None
    if entry.date_stencil is not None:
        try:
            stencil = parse_stencil(entry.date_stencil)
        except StencilError as error:
            findings.cannot(f"{entry.key}.date_stencil", f"{error}; entry not imported")
            return None
    parameters = _parameters(workflow, entry, findings)
    if parameters is None:
        return None
    renamed = _notebook_names(workflow, entry.key, findings)
    notebooks = [
        NotebookTable(
            name=renamed[nb.label],
            path=nb.filename,
            parameters={name: renamed.get(source, source) for name, source in nb.parameters.items()},
            pdf=nb.pdf,
        )
        for nb in workflow.notebooks
    ]
    return WorkflowTable(
        name=_distinct_name(workflow.name, used, entry.key, findings),
        origin=entry.key,
        autoflow_name=workflow.name,
        datasets=datasets,
        stencil=stencil,
        earliest_date=entry.earliest_date,
        parameters=parameters,
        notebooks=notebooks,
    )


def _parameters(workflow: WorkflowSpec, entry: SensorEntry, findings: Findings) -> dict[str, Any] | None:
    """The entry's parameters as the notebooks saw them, or None (reported) when AutoFlow would have refused."""
    labels = {nb.label for nb in workflow.notebooks}
    needed = {s for nb in workflow.notebooks for s in nb.parameters.values()} - labels - set(AUTOMATIC)
    missing = sorted(needed - set(entry.parameters))
    if missing:
        findings.cannot(
            f"{entry.key}.parameters",
            f"workflow {workflow.name!r} needs {', '.join(missing)} (its notebooks map them) but this entry "
            "does not set them; entry not imported",
        )
        return None
    kept: dict[str, Any] = {}
    for name, value in entry.parameters.items():
        key = f"{entry.key}.parameters.{name}"
        if name not in needed:
            findings.cannot(key, f"no notebook of workflow {workflow.name!r} maps {name!r}; not carried over")
        elif not _representable(value):
            findings.cannot(key, f"value {value!r} has no TOML form (null?); entry not imported")
            return None
        else:
            kept[name] = _as_autoflow_passed(value)
    return kept


def _representable(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(_representable(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_representable(v) for v in value)
    return isinstance(value, (str, int, float, bool, dt.date))


def _as_autoflow_passed(value: Any) -> Any:
    """Dates became ISO strings in AutoFlow's JSON round trip (``json.dumps(default=str)``): do the same."""
    if isinstance(value, dt.date):
        return value.isoformat() if not isinstance(value, dt.datetime) else str(value)
    if isinstance(value, dict):
        return {str(k): _as_autoflow_passed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_autoflow_passed(v) for v in value]
    return value


def _safe(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.-")[:64] or "notebook"
    return cleaned if NAME_PATTERN.match(cleaned) else f"n{cleaned}"[:64]


def _notebook_names(workflow: WorkflowSpec, key: str, findings: Findings) -> dict[str, str]:
    renamed = {}
    for nb in workflow.notebooks:
        name = nb.label if NAME_PATTERN.match(nb.label) else _safe(nb.label)
        if name != nb.label:
            findings.note(f"{key}", f"notebook label {nb.label!r} becomes name {name!r} (a folder-safe name)")
        renamed[nb.label] = name
    return renamed


def _distinct_name(name: str, used: set[str], key: str, findings: Findings) -> str:
    base = name if NAME_PATTERN.match(name) else _safe(name)
    candidate, number = base, 1
    while candidate in used:
        number += 1
        candidate = f"{base[:60]}-{number}"
    if candidate != name:
        findings.note(key, f"workflow {name!r} is imported as {candidate!r}")
    return candidate
