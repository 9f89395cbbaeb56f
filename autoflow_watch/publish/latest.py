"""``<workflow>/latest.json`` (and ``latest.html``): where the newest complete report is.

Files rather than a ``latest`` symlink: SMB shares (Windows readers) and many NFS exports do
not show symlinks as folders, static web servers often refuse to follow them, and copying
tools either skip or duplicate them. A small file replaced by rename is atomic on every
filesystem, and it can say more than a link: run id, outputs, when. ``latest.html`` is the
same for people: bookmark it, and it forwards to the newest report (no JavaScript needed).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from autoflow_watch.publish.staging import LATEST_HTML, LATEST_JSON, MANIFEST, atomic_write_text, is_date_name

LATEST_SCHEMA_VERSION = 1


def complete_dates(outbox: Path, workflow: str) -> list[str]:
    """Reference dates with a complete report (a manifest), newest first."""
    folder = outbox / workflow
    if not folder.is_dir():
        return []
    return sorted((d.name for d in folder.iterdir() if is_date_name(d.name) and (d / MANIFEST).is_file()), reverse=True)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def latest_pointer(outbox: Path, workflow: str) -> dict[str, Any] | None:
    """What ``latest.json`` says for ``workflow`` now, from the folders on disk; None without a report."""
    dates = complete_dates(outbox, workflow)
    if not dates:
        return None
    newest = dates[0]
    manifest = _read(outbox / workflow / newest / MANIFEST)
    outputs = [o.get("path") for o in manifest.get("outputs", []) if isinstance(o, dict) and o.get("path")]
    return {
        "schema_version": LATEST_SCHEMA_VERSION,
        "workflow": workflow,
        "reference_date": newest,
        "run_id": manifest.get("run_id"),
        "finished_at": manifest.get("finished_at"),
        "folder": f"{newest}/",
        "manifest": f"{newest}/{MANIFEST}",
        "outputs": [f"{newest}/{path}" for path in outputs],
    }


def _latest_html(pointer: dict[str, Any]) -> str:
    pages = [p for p in pointer["outputs"] if p.endswith(".html")]
    refresh = f'<meta http-equiv="refresh" content="0; url={html.escape(quote(pages[0]))}">' if len(pages) == 1 else ""
    links = "".join(
        f'<li><a href="{html.escape(quote(p))}">{html.escape(p)}</a></li>'
        for p in [*pointer["outputs"], pointer["manifest"]]
    )
    title = f"{pointer['workflow']}: latest report ({pointer['reference_date']})"
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">{refresh}<title>{html.escape(title)}</title>'
        '<style>body{font-family:"Liberation Sans",Arial,sans-serif;margin:2rem;color:#1b2430}a{color:#1f5a96}</style>'
        f"</head><body><h1>{html.escape(title)}</h1><ul>{links}</ul></body></html>\n"
    )


def write_latest(outbox: Path, workflow: str) -> dict[str, Any] | None:
    """Point ``latest.json``/``latest.html`` at the newest complete report; return what was written.

    Another daemon sharing the outbox may publish a newer date meanwhile: the folders are
    looked at again after writing, and the pointer rewritten if the newest one changed.
    """
    pointer = None
    for _ in range(3):
        pointer = latest_pointer(outbox, workflow)
        if pointer is None:
            return None
        folder = outbox / workflow
        atomic_write_text(outbox, folder / LATEST_JSON, json.dumps(pointer, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(outbox, folder / LATEST_HTML, _latest_html(pointer))
        if complete_dates(outbox, workflow)[:1] == [pointer["reference_date"]]:
            break
    return pointer
