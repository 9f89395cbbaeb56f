"""The executed notebook as a publishable file: no absolute paths, no secrets in its metadata."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat

from autoflow_watch.executor.params import SECRET_WORDS
from autoflow_watch.logs import redact


def clean_notebook(source: Path, target: Path) -> None:
    nb = nbformat.read(str(source), as_version=4)
    papermill = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if papermill.get(key):
            papermill[key] = Path(papermill[key]).name
    papermill.pop("environment_variables", None)
    if "parameters" in papermill:
        papermill["parameters"] = _redacted(papermill["parameters"])
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = _redact_source(cell.source)
    text = redact(nbformat.writes(nb))
    target.write_text(text, encoding="utf-8")


def _redacted(parameters: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if _secret(k) else v) for k, v in parameters.items()}


def _secret(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


def _redact_source(source: str) -> str:
    lines = []
    for line in source.splitlines():
        match = re.match(r"^(\s*)([A-Za-z_]\w*)\s*=", line)
        lines.append(f"{match.group(1)}{match.group(2)} = '[redacted]'" if match and _secret(match.group(2)) else line)
    return "\n".join(lines)
