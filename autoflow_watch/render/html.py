"""Executed notebook -> one self-contained HTML page (code hidden unless asked for).

The page is complete on its own: images are data URIs, math is embedded SVG, the stylesheet
is inline and nothing refers to the network (checked once more on the finished page). The
same text is what WeasyPrint prints, so the HTML and the PDF never disagree.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import nbformat

from autoflow_watch import __version__
from autoflow_watch.render.context import ReportContext
from autoflow_watch.render.csp import csp_meta_tag
from autoflow_watch.render.exporter import TEMPLATE_NAME, TEMPLATES, report_exporter
from autoflow_watch.render.offline import REMOTE_REFERENCE
from autoflow_watch.secrets import redact_tree

# page content height minus room for a caption: the tallest a figure may be in print
_FIGURE_MAX_HEIGHT = {"A4": "222mm", "Letter": "205mm"}
_PAGE_MARGINS = "20mm 16mm 18mm 16mm"
_URL_START = re.compile(r"(?:https?:)?//$", re.IGNORECASE)
_SCRIPT_TAG = re.compile(r"<script\b", re.IGNORECASE)
_MARGIN_BOX = 'font-family: "Liberation Sans", Arial, "DejaVu Sans", sans-serif; font-size: 7.5pt; color: #8a94a3;'


@functools.lru_cache(maxsize=4)
def stylesheet(name: str = "report.css") -> str:
    return (TEMPLATES / TEMPLATE_NAME / name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def code_stylesheet() -> str:
    """Pygments colours for code cells, only included when code is shown."""
    from pygments.formatters import HtmlFormatter

    return str(HtmlFormatter(style="default").get_style_defs(".highlight"))


def css_string(text: str) -> str:
    """``text`` as a CSS string literal (for ``content:`` of the running header)."""
    return json.dumps(text, ensure_ascii=False).replace("<", "\\3C ")


def page_css(context: ReportContext) -> str:
    """``@page`` rules: paper, margins, running header and footer, page numbers."""
    size = context.page_size()
    running = css_string(f"{context.workflow} · {context.reference_date}")
    run = css_string(f"run {context.run_id}")
    return f"""@page {{
  size: {size}; margin: {_PAGE_MARGINS};
  @top-left {{ content: string(report-title); {_MARGIN_BOX} vertical-align: bottom; padding-bottom: 3mm; }}
  @top-right {{ content: {running}; {_MARGIN_BOX} vertical-align: bottom; padding-bottom: 3mm; }}
  @bottom-left {{ content: {run}; {_MARGIN_BOX} vertical-align: top; padding-top: 3mm; }}
  @bottom-right {{ content: "Page " counter(page) " of " counter(pages); {_MARGIN_BOX} vertical-align: top;
                   padding-top: 3mm; }}
}}
@page :first {{ @top-left {{ content: none; }} @top-right {{ content: none; }} }}
@page wide {{ size: {size} landscape; }}
@media print {{
  .output_png img, .output_jpeg img, .output_svg img {{ max-height: {_FIGURE_MAX_HEIGHT[size]}; }}
}}"""


def outputs_carry_scripts(nb: Any) -> bool:
    """Whether an output of ``nb`` is a script (``application/javascript``, or HTML with ``<script>``):
    only then may the page run inline scripts (interactive charts); otherwise it runs none."""
    for cell in nb.cells:
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {})
            if "application/javascript" in data:
                return True
            page = data.get("text/html", "")
            if _SCRIPT_TAG.search(page if isinstance(page, str) else "".join(page)):
                return True
    return False


def _resources(
    notebook_path: Path, nb: Any, image_folder: Path | None, context: ReportContext, title: str, show_code: bool
) -> dict[str, Any]:
    # markdown images: from the folder the caller names (the source notebook's, from the config), else the
    # executed notebook's own; never from a path the notebook names (its papermill metadata can be rewritten)
    folder = image_folder or notebook_path.parent
    report = {
        "title": title,
        "workflow": context.workflow,
        "reference_date": context.reference_date,
        "run_id": context.run_id,
        "run_time": context.run_time(),
        "status": context.status,
        "status_class": "succeeded" if context.status == "succeeded" else "failed",
        "show_code": show_code,
        "version": __version__,
        "paper_size": context.page_size(),
        "page_css": page_css(context),
        "stylesheet": stylesheet(),
        "code_css": code_stylesheet() if show_code else "",
        "screen_css": stylesheet("screen.css"),
        "csp_meta": csp_meta_tag(inline_scripts=outputs_carry_scripts(nb)),
    }
    return {"metadata": {"path": str(folder), "name": notebook_path.stem}, "report": report}


def render_html(
    notebook_path: Path,
    output_path: Path,
    context: ReportContext,
    *,
    show_code: bool = False,
    title: str = "",
    image_folder: Path | None = None,
) -> str:
    """Write the report page to ``output_path`` and return its text (the PDF is made from it).

    ``image_folder``: where images that markdown cells name are embedded from (nothing outside it).
    """
    nb = redact_tree(nbformat.read(str(notebook_path), as_version=4))
    resources = _resources(notebook_path, nb, image_folder, context, title or notebook_path.stem, show_code)
    page, _ = report_exporter(show_code).from_notebook_node(nb, resources=resources)
    page = REMOTE_REFERENCE.sub(_neutralise, page)  # belt and braces: the template should leave none
    output_path.write_text(page, encoding="utf-8")
    return str(page)


def _neutralise(match: Any) -> str:
    """Point a remote reference that slipped through at ``about:blank`` so nothing loads."""
    return str(_URL_START.sub("about:blank#removed-", match.group(0)))
