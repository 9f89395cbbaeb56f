"""nbconvert configured for reports: our own template, math without MathJax, nothing remote.

The stock ``lab`` and ``classic`` templates put MathJax and require.js from a CDN into every
page and ~300 KB of CSS that WeasyPrint would have to digest for each PDF. The template in
``templates/autoflow_report`` reuses nbconvert's cell rendering (``classic/base.html.j2``) and
replaces the page around it; markdown goes through :mod:`~autoflow_watch.render.mathtex`
and every HTML fragment an analyst can produce through :mod:`~autoflow_watch.render.offline`.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

from jinja2 import pass_context
from nbconvert import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from traitlets.config import Config

from autoflow_watch.render.mathtex import latex_output_html, math_html
from autoflow_watch.render.offline import offline_html
from autoflow_watch.render.preprocess import DISPLAYABLE, ReportPreprocessor
from autoflow_watch.render.tables import table_classes

# <img src="relative/path"> in raw HTML (not a URL with a scheme, not an absolute path)
_LOCAL_IMG = re.compile(
    r"""(?P<before><img\b[^>]*?\ssrc=["'])(?P<src>(?![a-z][a-z0-9+.-]*:|/)[^"']+)(?P<after>["'])""", re.IGNORECASE
)
TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE_NAME = "autoflow_report"
REMOVE_CELL_TAGS = {"remove-cell", "injected-parameters"}  # papermill's injected cell: paths, run ids
REMOVE_INPUT_TAGS = {"remove-input", "parameters"}
REMOVE_OUTPUT_TAGS = {"remove-output"}


class _MathRenderer(IPythonRenderer):
    """Markdown renderer that typesets TeX itself instead of leaving it for MathJax.

    Raw HTML in markdown is passed through as written: nbconvert's own image embedding
    parses each inline HTML token on its own, which closes an analyst's ``<a href>`` before
    its text. Local ``<img src>`` in raw HTML are embedded here with a plain substitution.
    """

    def inline_html(self, html: str) -> str:
        return _LOCAL_IMG.sub(self._embed_local_img, html)

    def block_html(self, html: str) -> str:
        return _LOCAL_IMG.sub(self._embed_local_img, html) + "\n"

    def _src_to_base64(self, src: str) -> str | None:
        """Embed only a relative path that stays inside the image folder once every link is resolved."""
        if not src or os.path.isabs(src) or "\x00" in src:
            return None
        base = os.path.realpath(self.path or ".")
        if not os.path.realpath(os.path.join(base, src)).startswith(base + os.sep):
            return None
        found: str | None = super()._src_to_base64(src)
        return found

    def _embed_local_img(self, match: re.Match[str]) -> str:
        data = self._src_to_base64(match.group("src"))
        return f"{match.group('before')}{data}{match.group('after')}" if data else match.group(0)

    def block_math(self, body: str) -> str:
        return math_html(body, display=True)

    def inline_math(self, body: str) -> str:
        return math_html(body, display=False)

    def latex_environment(self, name: str, body: str) -> str:
        return math_html(body, display=True)


class ReportExporter(HTMLExporter):
    """HTMLExporter with the report template, math renderer and offline filters."""

    @pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        cell = context.get("cell", {})
        path = context.get("resources", {}).get("metadata", {}).get("path", "")
        renderer = _MathRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=True,
            path=path,
            exclude_anchor_links=True,
        )
        return offline_html(MarkdownWithMath(renderer=renderer).render(source))

    @pass_context
    def table_classes(self, context: Any, fragment: str) -> str:
        """Print classes of a table, for the report's paper size."""
        paper = context.get("resources", {}).get("report", {}).get("paper_size", "A4")
        return table_classes(fragment, paper)

    def default_filters(self) -> Any:
        yield from super().default_filters()
        yield ("markdown2html", self.markdown2html)
        yield ("offline_html", offline_html)
        yield ("latex2html", latex_output_html)
        yield ("table_classes", self.table_classes)


@functools.lru_cache(maxsize=4)
def report_exporter(show_code: bool) -> ReportExporter:
    """One exporter per code setting: building the Jinja environment costs more than a render."""
    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_cell_tags = set(REMOVE_CELL_TAGS)
    config.TagRemovePreprocessor.remove_input_tags = set(REMOVE_INPUT_TAGS)
    config.TagRemovePreprocessor.remove_all_outputs_tags = set(REMOVE_OUTPUT_TAGS)
    config.CSSHTMLHeaderPreprocessor.enabled = False
    config.NbConvertBase.display_data_priority = list(DISPLAYABLE)
    exporter = ReportExporter(config=config, template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES)])
    exporter.exclude_input = not show_code
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    exporter.exclude_anchor_links = True
    exporter.register_preprocessor(ReportPreprocessor(show_code=show_code), enabled=True)
    return exporter
