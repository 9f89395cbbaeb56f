"""One executed notebook into the report files its ``formats`` ask for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from autoflow_watch.render.context import ReportContext
from autoflow_watch.render.errors import RenderError
from autoflow_watch.render.html import render_html
from autoflow_watch.render.ipynb import clean_notebook
from autoflow_watch.render.pdf import ENGINES, render_pdf

FORMATS = ("html", "pdf", "ipynb")


def render_report(
    notebook_path: Path,
    out_dir: Path,
    name: str,
    formats: Sequence[str],
    context: ReportContext,
    *,
    show_code: bool = False,
    pdf_engine: str = "weasyprint",
    image_folder: Path | None = None,
) -> list[Path]:
    """Write ``out_dir/<name>.html``, ``.pdf`` and/or ``.ipynb`` (per ``formats``); return the paths.

    The PDF is printed from the HTML page, so when only ``pdf`` is asked for the page is
    written beside it for the time of printing (chromium reads it from disk) and then removed.
    ``image_folder``: where markdown images are embedded from (default: the executed notebook's folder).
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or pdf_engine not in ENGINES:
        raise RenderError(f"cannot render {unknown or pdf_engine!r}: formats are {FORMATS}, engines {ENGINES}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "html" in formats or "pdf" in formats:
        html_path = out_dir / f"{name}.html"
        page = render_html(
            notebook_path,
            html_path,
            context,
            show_code=show_code,
            title=_fallback_title(name),
            image_folder=image_folder,
        )
        if "html" in formats:
            written.append(html_path)
        if "pdf" in formats:
            pdf_path = out_dir / f"{name}.pdf"
            try:
                render_pdf(page, html_path, pdf_path, pdf_engine)
            finally:
                if "html" not in formats:
                    html_path.unlink(missing_ok=True)
            written.append(pdf_path)
    if "ipynb" in formats:
        target = out_dir / f"{name}.ipynb"
        if target.resolve() == Path(notebook_path).resolve():
            raise RenderError(f"the clean notebook would overwrite the executed one: {target}")
        clean_notebook(notebook_path, target)
        written.append(target)
    return written


def _fallback_title(name: str) -> str:
    """A title for a notebook without a heading: its name, as words."""
    return name.replace("_", " ").replace("-", " ").strip().capitalize() or name
