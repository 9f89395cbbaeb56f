"""Executed notebook -> a self-contained HTML report with code hidden.

nbconvert's ``basic`` template gives the cells' HTML and nothing else; we wrap it in our
own page and stylesheet. That is why nothing remote is ever referenced (the ``lab`` and
``classic`` templates load MathJax and require.js from a CDN) and why WeasyPrint, which
would otherwise chew through JupyterLab's 300 KB of CSS, renders the PDF fast.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor
from traitlets.config import Config

from autoflow_watch.render.context import ReportContext

STYLESHEET = (Path(__file__).parent / "templates" / "report.css").read_text(encoding="utf-8")
HIDDEN_CELL_TAGS = {"remove-cell", "injected-parameters"}


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The first markdown heading, as an analyst titled the notebook."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", cell.source, re.MULTILINE)
            if match:
                return re.sub(r"[*_`]", "", match.group(1)).strip()
    return fallback


def _exporter(show_code: bool) -> HTMLExporter:
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = set(HIDDEN_CELL_TAGS)
    config.TagRemovePreprocessor.remove_input_tags = {"remove-input", "parameters"}
    config.TagRemovePreprocessor.remove_all_outputs_tags = {"remove-output"}
    exporter = HTMLExporter(config=config, template_name="basic")
    exporter.register_preprocessor(TagRemovePreprocessor(config=config), enabled=True)
    exporter.exclude_input = not show_code
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.exclude_anchor_links = True
    return exporter


def render_html(notebook_path: Path, output_path: Path, context: ReportContext, *, show_code: bool = False) -> str:
    """Write the report page and return its HTML (the PDF is made from the same text)."""
    nb = nbformat.read(str(notebook_path), as_version=4)
    body, _ = _exporter(show_code).from_notebook_node(nb)
    title = notebook_title(nb, fallback=f"{context.workflow} {context.reference_date}")
    page = _page(title, body, context)
    output_path.write_text(page, encoding="utf-8")
    return page


def _page(title: str, body: str, context: ReportContext) -> str:
    finished = context.finished_at or context.started_at
    when = dt.datetime.fromtimestamp(finished, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    status_class = "ok" if context.status == "succeeded" else "failed"
    esc = html.escape
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="autoflow-watch">
<title>{esc(title)} · {esc(context.reference_date)}</title>
<style>
@page {{ size: {esc(context.paper_size)}; }}
@page {{ @top-left {{ content: "{esc(context.workflow)} · {esc(context.reference_date)}"; }} }}
{STYLESHEET}
</style>
</head>
<body>
<header class="report-header">
  <h1 class="report-title">{esc(title)}</h1>
  <dl class="report-meta">
    <div><dt>Workflow</dt><dd>{esc(context.workflow)}</dd></div>
    <div><dt>Reference date</dt><dd>{esc(context.reference_date)}</dd></div>
    <div><dt>Run</dt><dd>{esc(when)}</dd></div>
    <div><dt>Status</dt><dd class="status {status_class}">{esc(context.status)}</dd></div>
  </dl>
</header>
<main class="report-body">
{body}
</main>
<footer class="report-footer">run {esc(context.run_id)} · autoflow-watch</footer>
</body>
</html>
"""
