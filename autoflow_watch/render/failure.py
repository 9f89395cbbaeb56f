"""The debugging copy of a failed notebook: its HTML, code shown, for ``outbox/_failed/``.

papermill marks where a notebook stopped only when a cell raises. A run killed from outside
(``run_timeout``, a dead worker) leaves the last saved notebook, whose running cell papermill
had flagged ``running``; :func:`mark_stopped` adds the same two notes papermill would, so an
analyst opening it sees at once why and where it stopped.
"""

from __future__ import annotations

import html
from pathlib import Path

import nbformat

from autoflow_watch.render.context import ReportContext
from autoflow_watch.render.report import render_report

STOPPED_TAG = "afw-stopped-notice"


def render_failure(notebook_path: Path, name: str, context: ReportContext, folder: Path) -> list[Path]:
    """``<folder>/<name>.html`` of a failed notebook, with its code, for whoever debugs it."""
    return render_report(notebook_path, folder, name, ["html"], context, show_code=True)


def mark_stopped(notebook_path: Path, reason: str, folder: Path) -> Path:
    """A copy in ``folder`` of the notebook with a note at the top, and one above the cell that was running."""
    target = folder / notebook_path.name
    nb = nbformat.read(str(notebook_path), as_version=4)
    running = _running_cell(nb)
    where = "before its first cell"
    if running is not None:
        where = 'in <a href="#afw-stopped-cell">the cell marked below</a>; the output saved before is kept'
        marker = '<div class="afw-error-marker" id="afw-stopped-cell">Execution was stopped here</div>'
        nb.cells.insert(running, _notice(marker))
    banner = f'<div class="afw-error-banner">The run was stopped: {html.escape(reason)}. It stopped {where}.</div>'
    nb.cells.insert(0, _notice(banner))
    nbformat.write(nb, str(target))
    return target


def _running_cell(nb: nbformat.NotebookNode) -> int | None:
    for index, cell in enumerate(nb.cells):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return index
    return None


def _notice(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(source)
    cell.metadata["tags"] = [STOPPED_TAG]
    return cell
