"""Read AutoFlow's ``workflows.yml`` (FlowKit's schema) into plain typed records.

The file is read with PyYAML's ``safe_load``, as AutoFlow itself did, so a value means here what
it meant there (``2016-01-04`` is a date, ``on`` a boolean). Keys AutoFlow did not know, and
entries that AutoFlow would have refused, are reported in :class:`Findings`, one line each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKFLOW_KEYS = {"name", "notebooks"}
NOTEBOOK_KEYS = {"filename", "parameters", "output"}
OUTPUT_KEYS = {"format", "template"}
SENSOR_KEYS = {"schedule", "cdr_types", "workflows"}
ENTRY_KEYS = {"workflow_name", "parameters", "earliest_date", "date_stencil"}
CDR_TYPES = ("calls", "sms", "mds", "topups")


class ImportFailed(Exception):
    """The YAML cannot be imported at all (unreadable, not AutoFlow's shape); the message is one line."""


@dataclass
class Findings:
    """What the importer could not carry over (``lost``, makes it exit 2) and what it changed on the way."""

    source: Path
    lost: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def cannot(self, key: str, message: str) -> None:
        self.lost.append(f"{self.source}: {key}: {message}")

    def note(self, key: str, message: str) -> None:
        self.notes.append(f"{self.source}: {key}: {message}")


@dataclass(frozen=True)
class NotebookSpec:
    """One AutoFlow notebook task: its label, file, parameter mapping and whether it became a PDF."""

    label: str
    filename: str
    parameters: dict[str, str]
    pdf: bool


@dataclass(frozen=True)
class WorkflowSpec:
    """One entry of AutoFlow's ``workflows`` list."""

    name: str
    notebooks: list[NotebookSpec]


@dataclass(frozen=True)
class SensorEntry:
    """One entry of ``available_dates_sensor.workflows``: which workflow runs, with what."""

    key: str
    workflow_name: str
    parameters: dict[str, Any]
    earliest_date: dt.date | None
    date_stencil: list[Any] | None


@dataclass(frozen=True)
class AutoFlowSpec:
    """The whole file: workflow definitions and the sensor that runs them."""

    workflows: dict[str, WorkflowSpec]
    schedule: str | None
    cdr_types: list[str] | None
    entries: list[SensorEntry]


def read_workflows_yml(path: Path, findings: Findings) -> AutoFlowSpec:
    """Parse ``path``; raise :class:`ImportFailed` when it is not an AutoFlow workflows file."""
    document = _load_yaml(path)
    if not isinstance(document, dict):
        raise ImportFailed(f"{path}: expected a mapping with 'workflows' and 'available_dates_sensor'")
    for key in sorted(set(document) - {"workflows", "available_dates_sensor"}, key=str):
        findings.cannot(str(key), "unknown top-level key (AutoFlow reads only workflows and available_dates_sensor)")
    raw_workflows, sensor = document.get("workflows"), document.get("available_dates_sensor")
    if not isinstance(raw_workflows, list):
        raise ImportFailed(f"{path}: workflows: expected a list of workflow definitions (name, notebooks)")
    if not isinstance(sensor, dict):
        raise ImportFailed(f"{path}: available_dates_sensor: expected a mapping (schedule, cdr_types, workflows)")
    workflows: dict[str, WorkflowSpec] = {}
    for index, raw in enumerate(raw_workflows):
        workflow = _workflow(raw, f"workflows[{index}]", findings)
        if workflow is not None and workflow.name in workflows:
            findings.cannot(f"workflows[{index}].name", f"workflow {workflow.name!r} is defined twice; kept the first")
        elif workflow is not None:
            workflows[workflow.name] = workflow
    return _sensor(sensor, workflows, findings)


def _load_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover - an install without the extra
        raise ImportFailed('import-autoflow needs PyYAML: pip install "autoflow-watch[autoflow]"') from None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ImportFailed(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ImportFailed(f"{path}: not valid YAML{line}: {getattr(error, 'problem', None) or error}") from None


def _unknown(raw: dict[Any, Any], known: set[str], key: str, findings: Findings) -> None:
    for name in sorted(set(raw) - known, key=str):
        findings.cannot(f"{key}.{name}", f"unknown key (AutoFlow knows {', '.join(sorted(known))}); not carried over")


def _workflow(raw: object, key: str, findings: Findings) -> WorkflowSpec | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("notebooks"), dict):
        findings.cannot(key, "a workflow needs a name and a notebooks mapping; not imported")
        return None
    _unknown(raw, WORKFLOW_KEYS, key, findings)
    notebooks = []
    for label, spec in raw["notebooks"].items():
        notebook = _notebook(str(label), spec, f"{key}.notebooks.{label}", findings)
        if notebook is None:
            findings.cannot(key, f"workflow {raw['name']!r} is not imported: its notebook {label!r} is unusable")
            return None
        notebooks.append(notebook)
    if not notebooks:
        findings.cannot(f"{key}.notebooks", f"workflow {raw['name']!r} has no notebooks; not imported")
        return None
    return WorkflowSpec(name=raw["name"], notebooks=notebooks)


def _notebook(label: str, raw: object, key: str, findings: Findings) -> NotebookSpec | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("filename"), str):
        findings.cannot(f"{key}.filename", "required key is missing (the notebook's file name)")
        return None
    _unknown(raw, NOTEBOOK_KEYS, key, findings)
    mapping = raw.get("parameters") or {}
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        findings.cannot(f"{key}.parameters", "expected a mapping of parameter names to source names (strings)")
        return None
    output = raw.get("output")
    pdf = False
    if output is not None:
        if not isinstance(output, dict) or output.get("format") != "pdf":
            findings.cannot(f"{key}.output", f"only output: {{format: pdf}} is known to AutoFlow, got {output!r}")
        else:
            pdf = True
            _unknown(output, OUTPUT_KEYS, f"{key}.output", findings)
            if output.get("template") is not None:
                findings.cannot(
                    f"{key}.output.template",
                    f"asciidoc template {output['template']!r} is not carried over: reports are rendered from "
                    "the notebook's HTML by WeasyPrint (see docs/autoflow.md)",
                )
    return NotebookSpec(
        label=label, filename=raw["filename"], parameters={str(k): v for k, v in mapping.items()}, pdf=pdf
    )


def _sensor(raw: dict[Any, Any], workflows: dict[str, WorkflowSpec], findings: Findings) -> AutoFlowSpec:
    key = "available_dates_sensor"
    _unknown(raw, SENSOR_KEYS, key, findings)
    schedule = raw.get("schedule")
    if "schedule" not in raw:
        findings.cannot(f"{key}.schedule", "required key is missing; the config polls FlowAPI every 5 minutes")
    elif schedule is None:
        findings.cannot(
            f"{key}.schedule",
            "null (AutoFlow checked once at start) has no daemon form: the config polls FlowAPI every 5 minutes; "
            "`autoflow-watch run --once` checks once",
        )
    elif not isinstance(schedule, str):
        findings.cannot(f"{key}.schedule", f"expected a cron string, got {schedule!r}")
        schedule = None
    cdr_types = raw.get("cdr_types")
    if cdr_types is not None and (not isinstance(cdr_types, list) or not all(t in CDR_TYPES for t in cdr_types)):
        findings.cannot(f"{key}.cdr_types", f"expected a list of {', '.join(CDR_TYPES)}, got {cdr_types!r}")
        cdr_types = None
    entries = []
    for index, entry in enumerate(raw.get("workflows") or []):
        parsed = _entry(entry, f"{key}.workflows[{index}]", workflows, findings)
        if parsed is not None:
            entries.append(parsed)
    if not raw.get("workflows"):
        findings.cannot(f"{key}.workflows", "the sensor runs no workflow; the config has none")
    return AutoFlowSpec(workflows=workflows, schedule=schedule, cdr_types=cdr_types, entries=entries)


def _entry(raw: object, key: str, workflows: dict[str, WorkflowSpec], findings: Findings) -> SensorEntry | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("workflow_name"), str):
        findings.cannot(f"{key}.workflow_name", "required key is missing; entry not imported")
        return None
    _unknown(raw, ENTRY_KEYS, key, findings)
    name = raw["workflow_name"]
    if name not in workflows:
        findings.cannot(f"{key}.workflow_name", f"no imported workflow is named {name!r}; entry not imported")
        return None
    parameters = raw.get("parameters") or {}
    earliest = raw.get("earliest_date")
    if isinstance(earliest, str):
        try:
            earliest = dt.date.fromisoformat(earliest)
        except ValueError:
            earliest = None
            findings.cannot(f"{key}.earliest_date", f"{raw['earliest_date']!r} is not a date; entry not imported")
            return None
    if not isinstance(parameters, dict) or (earliest is not None and not isinstance(earliest, dt.date)):
        findings.cannot(key, "parameters must be a mapping and earliest_date a date; entry not imported")
        return None
    stencil = raw.get("date_stencil")
    return SensorEntry(
        key=key,
        workflow_name=name,
        parameters={str(k): v for k, v in parameters.items()},
        earliest_date=earliest,
        date_stencil=stencil if stencil is not None else None,
    )
