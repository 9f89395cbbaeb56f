"""The executed notebook as a publishable file: no absolute paths, no secrets.

papermill records in ``metadata.papermill`` where the notebook ran (``input_path``,
``output_path``, the run folder's absolute paths), every parameter it injected (upstream
notebooks' absolute paths, anything a workflow passed) and, when asked, environment
variables. A reader of the outbox needs none of that and must not see a token: paths become
file names, secret-named parameters are redacted in the metadata and in the injected cell,
environment-ish keys go, and every string is passed through the secret filter.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import nbformat

from autoflow_watch.secrets import public_parameters, redact_assignments, redact_tree

_ENVIRONMENT_KEYS = re.compile(r"env|environ|cwd|hostname|user", re.IGNORECASE)
_ABSOLUTE_PATH = re.compile(r"^(?:/|[A-Za-z]:[\\/])[^\n]*$")
_QUOTED_ABSOLUTE_PATH = re.compile(r"""(?P<q>["'])(?P<path>/(?:[^"'\n/]+/)+(?P<name>[^"'\n/]+))(?P=q)""")


def _strip_paths(value: Any) -> Any:
    """Absolute paths -> their last component, wherever they sit in a metadata tree."""
    if isinstance(value, str):
        return PurePosixPath(value.replace("\\", "/")).name if _ABSOLUTE_PATH.match(value) else value
    if isinstance(value, dict):
        return {k: _strip_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_paths(v) for v in value]
    return value


def clean_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A notebook's ``metadata.papermill`` without paths, environment or secret parameters."""
    papermill = dict(metadata.get("papermill", {}))
    for key in list(papermill):
        if _ENVIRONMENT_KEYS.search(key):
            del papermill[key]
    if isinstance(papermill.get("parameters"), dict):
        papermill["parameters"] = public_parameters(papermill["parameters"])
    return {**metadata, "papermill": _strip_paths(papermill)} if "papermill" in metadata else dict(metadata)


def clean_source(source: str) -> str:
    """The injected parameters cell: secret-named values redacted, quoted absolute paths shortened."""
    return _QUOTED_ABSOLUTE_PATH.sub(
        lambda m: f"{m.group('q')}{m.group('name')}{m.group('q')}", redact_assignments(source)
    )


def clean_notebook(source: Any, target: Any) -> None:
    """Write a copy of the executed notebook ``source`` to ``target``, safe to publish."""
    nb = nbformat.read(str(source), as_version=4)
    nb.metadata = nbformat.from_dict(clean_metadata(nb.metadata))
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags or "parameters" in tags:
            cell.source = clean_source(cell.source)
        papermill = cell.get("metadata", {}).get("papermill")
        if isinstance(papermill, dict):
            cell.metadata["papermill"] = _strip_paths(papermill)
    nb = redact_tree(nb)
    nbformat.write(nb, str(target))
