"""One executed notebook into the report files its ``formats`` ask for.

Each format is an entry of :data:`autoflow_watch.extensions.FORMATS`: a function that takes the
:class:`Report` being written and returns the file it wrote. Formats that print or convert the
report page share it through :meth:`Report.page`, so the page is rendered once per report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from autoflow_watch.extensions import FORMATS, one_of
from autoflow_watch.render.context import ReportContext
from autoflow_watch.render.errors import RenderError
from autoflow_watch.render.html import render_html
from autoflow_watch.render.pdf import ENGINES


@dataclass
class Report:
    """One notebook's report as its formats write it: where from, where to, how, and the shared HTML page."""

    notebook_path: Path
    out_dir: Path
    name: str
    context: ReportContext
    show_code: bool = False
    pdf_engine: str = "weasyprint"
    image_folder: Path | None = None  # where markdown images are embedded from (default: the notebook's folder)
    _page: str | None = field(default=None, init=False, repr=False)

    def path(self, suffix: str) -> Path:
        """``out_dir/<name>.<suffix>``: where a format writes its file."""
        return self.out_dir / f"{self.name}.{suffix}"

    def page(self) -> str:
        """The report page's text, written to ``path("html")`` the first time it is asked for."""
        if self._page is None:
            self._page = render_html(
                self.notebook_path,
                self.path("html"),
                self.context,
                show_code=self.show_code,
                title=_fallback_title(self.name),
                image_folder=self.image_folder,
            )
        return self._page

    @property
    def page_written(self) -> bool:
        return self._page is not None


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
    """Write ``out_dir/<name>.<format>`` for each of ``formats`` (in the registry's order); return the paths.

    The PDF is printed from the HTML page, so when only ``pdf`` is asked for the page is
    written beside it for the time of printing (chromium reads it from disk) and then removed.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise RenderError(f"cannot render {unknown!r}: formats are {one_of(list(FORMATS))}")
    if pdf_engine not in ENGINES:
        raise RenderError(f"cannot render with {pdf_engine!r}: engines are {one_of(list(ENGINES))}")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = Report(notebook_path, out_dir, name, context, show_code, pdf_engine, image_folder)
    written: list[Path] = []
    try:
        for entry in [e for e in FORMATS.values() if e.name in formats]:
            written.append(entry.load()(report))
    finally:
        if report.page_written and "html" not in formats:
            report.path("html").unlink(missing_ok=True)
    return written


def _fallback_title(name: str) -> str:
    """A title for a notebook without a heading: its name, as words."""
    return name.replace("_", " ").replace("-", " ").strip().capitalize() or name
