"""The scalar scraps a report notebook glued with scrapbook, read from its executed notebook.

``scrapbook.glue(name, value)`` leaves a display output whose data has the MIME type
``application/scrapbook.scrap.<encoder>+json`` holding ``{name, data, encoder, version}``. This
reads that JSON as scrapbook's own reader does (the last glue of a name wins), without importing
scrapbook (the daemon never does), and keeps the scalars: numbers, booleans and short strings.
A dataframe, a list or a display-only scrap is not a figure and is left out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from autoflow_watch.secrets import redact_text

GLUE_PREFIX = "application/scrapbook.scrap."
MAX_STRING = 200  # a longer string is text, not a figure
MAX_SCRAPS = 50


def _scalar(value: Any) -> bool:
    if isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= MAX_STRING


def scalar_scraps(notebook: Path) -> dict[str, Any]:
    """``{name: value}`` of the scalar scraps in an executed notebook; {} when it cannot be read."""
    try:
        document = json.loads(notebook.read_text(encoding="utf-8"))
        cells = document.get("cells", [])
    except (OSError, ValueError, AttributeError):
        return {}
    found: dict[str, Any] = {}
    for cell in cells if isinstance(cells, list) else []:
        outputs = cell.get("outputs", []) if isinstance(cell, dict) else []
        for output in outputs if isinstance(outputs, list) else []:
            data = output.get("data") if isinstance(output, dict) else None
            for mime, payload in (data or {}).items() if isinstance(data, dict) else ():
                if not (mime.startswith(GLUE_PREFIX) and isinstance(payload, dict)):
                    continue
                name, value = payload.get("name"), payload.get("data")
                if isinstance(name, str) and name and _scalar(value):
                    found[name] = redact_text(value) if isinstance(value, str) else value
    return dict(list(found.items())[:MAX_SCRAPS])
