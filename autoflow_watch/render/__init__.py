"""Render executed notebooks into reports: HTML (code hidden, self-contained), PDF, clean ipynb."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from autoflow_watch.render.context import ReportContext
from autoflow_watch.render.html import render_html
from autoflow_watch.render.ipynb import clean_notebook
from autoflow_watch.render.pdf import RenderError, render_pdf

__all__ = ["RenderError", "ReportContext", "render_report"]


def render_report(
    notebook_path: Path,
    out_dir: Path,
    name: str,
    formats: Sequence[str],
    context: ReportContext,
    *,
    show_code: bool = False,
    pdf_engine: str = "weasyprint",
) -> list[Path]:
    """Write ``out_dir/<name>.html``, ``.pdf`` and/or ``.ipynb``; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    html_path = out_dir / f"{name}.html"
    if "html" in formats or "pdf" in formats:
        page = render_html(notebook_path, html_path, context, show_code=show_code)
        if "html" in formats:
            written.append(html_path)
        if "pdf" in formats:
            pdf_path = out_dir / f"{name}.pdf"
            render_pdf(page, html_path, pdf_path, pdf_engine)
            written.append(pdf_path)
        if "html" not in formats:
            html_path.unlink(missing_ok=True)
    if "ipynb" in formats:
        target = out_dir / f"{name}.ipynb"
        clean_notebook(notebook_path, target)
        written.append(target)
    return written
