"""The built-in report formats, each registered in :mod:`autoflow_watch.extensions`.

A format is a function from the :class:`~autoflow_watch.render.report.Report` being written
to the file it wrote (``report.path("<suffix>")``).
"""

from __future__ import annotations

from pathlib import Path

from autoflow_watch.render.errors import RenderError
from autoflow_watch.render.ipynb import clean_notebook
from autoflow_watch.render.pdf import render_pdf
from autoflow_watch.render.report import Report


def write_html(report: Report) -> Path:
    """The self-contained report page."""
    report.page()
    return report.path("html")


def write_pdf(report: Report) -> Path:
    """The report page printed (WeasyPrint or chromium, per ``pdf_engine``)."""
    target = report.path("pdf")
    render_pdf(report.page(), report.path("html"), target, report.pdf_engine)
    return target


def write_ipynb(report: Report) -> Path:
    """The executed notebook without paths or secrets."""
    target = report.path("ipynb")
    if target.resolve() == Path(report.notebook_path).resolve():
        raise RenderError(f"the clean notebook would overwrite the executed one: {target}")
    clean_notebook(report.notebook_path, target)
    return target
