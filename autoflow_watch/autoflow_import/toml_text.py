"""The imported config as commented TOML text: values AutoFlow kept elsewhere are marked ``CHECK``."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoflow_watch.autoflow_import.translate import WorkflowTable

BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
DEFAULT_FLOWAPI_URL = "http://localhost:9090"  # AutoFlow's and flowclient's default


@dataclass(frozen=True)
class Settings:
    """The settings outside the workflows: where things live, and how FlowAPI is checked."""

    source: Path
    notebooks: str  # as written: relative to the output file's folder where possible
    schedule: str | None


def toml_key(key: str) -> str:
    return key if BARE_KEY.match(key) else toml_value(key)


def toml_value(value: Any) -> str:
    """One TOML value (inline); raises TypeError for what TOML cannot hold (None)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def _line(key: str, value: Any, comment: str = "", indent: str = "") -> str:
    text = f"{indent}{key} = {toml_value(value)}"
    return f"{text:<44} # {comment}" if comment else text


def render(settings: Settings, tables: list[WorkflowTable]) -> str:
    """The whole config file."""
    parts = [_header(settings), _paths(settings), _flowapi(settings)]
    parts += [_workflow(table) for table in tables]
    return "\n".join(parts)


def _header(settings: Settings) -> str:
    return (
        f"# Imported from AutoFlow's {settings.source.name} ({settings.source}) by `autoflow-watch import-autoflow`.\n"
        "# Lines marked CHECK hold what AutoFlow kept outside workflows.yml (environment variables, Docker\n"
        "# secrets): they work on one machine as written; set them for your deployment, then run\n"
        "# `autoflow-watch validate --config THIS_FILE`. docs/autoflow.md says what else to check.\n"
    )


def _paths(settings: Settings) -> str:
    return "\n".join(
        [
            "[paths]",
            _line("notebooks", settings.notebooks, "CHECK: AUTOFLOW_INPUTS_DIR, the notebooks' folder"),
            _line("inbox", "var/inbox", "CHECK: marker files may also start runs (AutoFlow had none)"),
            _line("outbox", "var/outbox", "CHECK: AUTOFLOW_OUTPUTS_DIR/reports: published reports"),
            _line("work", "var/work", "CHECK: AUTOFLOW_OUTPUTS_DIR/notebooks: executed notebooks"),
            _line("state", "sqlite:///var/state/autoflow.db", "CHECK: AUTOFLOW_DB_URI (run records; new store)"),
            "",
        ]
    )


def _flowapi(settings: Settings) -> str:
    lines = [
        "[flowapi]",
        _line("url", DEFAULT_FLOWAPI_URL, "CHECK: FLOWAPI_URL"),
        _line("token_env", "FLOWAPI_TOKEN", "CHECK: or token_file = a systemd credential (docs/operations.md)"),
    ]
    if settings.schedule is not None:
        lines.append(_line("schedule", settings.schedule, "available_dates_sensor.schedule (cron, host time zone)"))
    else:
        lines.append('# poll_interval = "5m"                      # the default: AutoFlow had no schedule here')
    return "\n".join([*lines, ""])


def _workflow(table: WorkflowTable) -> str:
    lines = [f"# {table.origin}: AutoFlow workflow {table.autoflow_name!r}", "[[workflow]]"]
    lines.append(_line("name", table.name))
    lines.append(_line("datasets", table.datasets, "AutoFlow's cdr_types"))
    lines.append(_line("datasets_match", "any", "AutoFlow's rule: a date any of them has"))
    if table.stencil is not None:
        lines.append(_line("date_stencil", table.stencil))
    if table.earliest_date is not None:
        lines.append(_line("earliest_date", table.earliest_date))
    if table.parameters:
        lines.append(_line("parameters", table.parameters))
    lines.append(_line("flowapi_token", True, "AutoFlow gave every notebook FLOWAPI_TOKEN"))
    for notebook in table.notebooks:
        lines += ["", "  [[workflow.notebook]]"]
        lines.append(_line("name", notebook.name, indent="  "))
        lines.append(_line("path", notebook.path, indent="  "))
        lines.append(_line("parameters", notebook.parameters, indent="  "))
        if notebook.pdf:
            lines.append(_line("report", {"formats": ["pdf"]}, "AutoFlow's output: {format: pdf}", indent="  "))
    return "\n".join([*lines, ""])
