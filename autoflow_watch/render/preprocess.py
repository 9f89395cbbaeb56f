"""Turn an executed notebook into report content: a title, no noise, hints for page layout.

nbconvert's tag preprocessor has already removed what analysts tagged ``remove-cell``,
``remove-input`` or ``remove-output``. What is left is judged the way a reader would:

- the first heading becomes the report's title (and is not repeated in the body);
- warnings on stderr, widgets (they need a live kernel) and bare object reprs such as
  ``[<matplotlib.lines.Line2D at 0x7f…>]`` are noise in a report, not results;
- a code cell that shows nothing (code hidden, no output) leaves no empty gap;
- papermill's notices in a failed notebook (red text at twice the size) become one calm line
  each, the link to the failing cell kept;
- figures, their captions and the short text introducing them get tags that the print
  stylesheet uses to keep them on one page.
"""

from __future__ import annotations

import html
import re
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

from autoflow_watch.render.tables import WIDEST, table_classes

HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(?P<text>.+?)\s*#*\s*$", re.MULTILINE)
_OBJECT_REPR = re.compile(
    r"^\s*\[?\s*(?:<[\w.]+(?: object)? at 0x[0-9a-f]+>\s*,?\s*)+\]?\s*$"  # <matplotlib.lines.Line2D at 0x…>
    r"|^\s*Text\(-?[\d.e+-]+, -?[\d.e+-]+, '.*'\)\s*$"  # what plt.title() returns
    r"|^\s*<Figure size \d+x\d+ with \d+ Axes?>\s*$",
    re.IGNORECASE,
)
DISPLAYABLE = (
    "text/html",
    "text/markdown",
    "image/svg+xml",
    "image/png",
    "image/jpeg",
    "text/latex",
    "application/javascript",
    "text/plain",
)
IMAGES = ("image/png", "image/jpeg", "image/svg+xml")
FIGURE_TAG, CAPTION_TAG, KEEP_WITH_NEXT_TAG = "afw-figure", "afw-caption", "afw-keep-with-next"
LANDSCAPE_TAG = "afw-landscape"
_CAPTION_MAX_CHARS = 400
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"
_ERROR_CELL_LINK = re.compile(r"""<a href=["']#papermill-error-cell["']>(?P<label>[^<]*)</a>""")


def notebook_title(nb: NotebookNode) -> tuple[int, re.Match[str]] | None:
    """Index of the markdown cell holding the notebook's first heading, and that heading."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            match = HEADING.search(cell.source)
            if match:
                return index, match
    return None


def plain_title(markdown: str) -> str:
    """A heading's text without markdown emphasis or code marks."""
    return re.sub(r"[*_`]", "", markdown).strip()


class ReportPreprocessor(Preprocessor):
    """See the module docstring; runs after nbconvert's TagRemovePreprocessor."""

    show_code = Bool(False, help="Code cells are shown (so an input alone is worth a cell).").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        report = resources.setdefault("report", {})
        found = notebook_title(nb)
        if found:
            index, match = found
            report["title"] = plain_title(match.group("text"))
            cell = nb.cells[index]
            cell.source = (cell.source[: match.start()] + cell.source[match.end() :]).strip()
        nb.cells = [cell for cell in (self._clean(c) for c in nb.cells) if cell is not None]
        _mark_figures(nb.cells, str(report.get("paper_size", "A4")))
        return nb, resources

    def _clean(self, cell: NotebookNode) -> NotebookNode | None:
        if cell.cell_type == "markdown":
            if PAPERMILL_ERROR_TAG in cell.get("metadata", {}).get("tags", []):
                cell.source = _papermill_notice(cell.source)
            return cell if cell.source.strip() or cell.get("attachments") else None
        if cell.cell_type != "code":
            return cell
        cell.outputs = [output for output in cell.get("outputs", []) if self._worth_showing(output)]
        for output in cell.outputs:
            _describe_images(output)
        input_shown = (
            self.show_code and cell.source.strip() and not cell.metadata.get("transient", {}).get("remove_source")
        )
        if not cell.outputs and not input_shown:
            return None
        return cell

    def _worth_showing(self, output: NotebookNode) -> bool:
        kind = output.get("output_type")
        if kind == "stream":
            return output.get("name") != "stderr" or self.show_code
        if kind == "error":
            return True
        data = output.get("data", {})
        if "application/vnd.jupyter.widget-view+json" in data:
            return False
        shown = [mime for mime in DISPLAYABLE if mime in data]
        if not shown:
            return False  # scrapbook's glued values and other machine-only data
        return not (shown == ["text/plain"] and _OBJECT_REPR.match(str(data["text/plain"])))


def _papermill_notice(source: str) -> str:
    """papermill's "An Exception was encountered at In [3]" and "...stopped here" notices, restyled."""
    link = _ERROR_CELL_LINK.search(source)
    if link:
        label = html.escape(link.group("label").strip() or "the failing cell")
        return (
            f'<div class="afw-error-banner">The run failed at <a href="#papermill-error-cell">cell {label}</a>;'
            " the error is shown there.</div>"
        )
    if "papermill-error-cell" in source:
        return '<div class="afw-error-marker" id="papermill-error-cell">Execution stopped here</div>'
    return source


def _describe_images(output: NotebookNode) -> None:
    """Give images without alternative text a plain one (screen readers; nbconvert warns otherwise)."""
    data, metadata = output.get("data", {}), output.setdefault("metadata", NotebookNode())
    for mime in IMAGES:
        if mime in data and not metadata.get("alt") and not metadata.get(mime, {}).get("alt"):
            metadata["alt"] = "Figure"


def _tags(cell: NotebookNode) -> list[str]:
    tags: list[str] = cell.setdefault("metadata", NotebookNode()).setdefault("tags", [])
    return tags


def _is_figure(cell: NotebookNode) -> bool:
    return cell.cell_type == "code" and any(
        mime in output.get("data", {}) for output in cell.get("outputs", []) for mime in IMAGES
    )


def _table_classes(cell: NotebookNode, paper_size: str) -> str:
    if cell.cell_type != "code":
        return ""
    outputs = cell.get("outputs", [])
    return " ".join(table_classes(str(o.get("data", {}).get("text/html", "")), paper_size) for o in outputs)


def _mark_figures(cells: list[NotebookNode], paper_size: str) -> None:
    """Tag figures and tables, the short markdown cell introducing one, and a figure's caption.

    The widest tables are printed on a landscape page, and their introduction with them.
    """
    for index, cell in enumerate(cells):
        figure, tables = _is_figure(cell), _table_classes(cell, paper_size)
        if not figure and not tables:
            continue
        tags = [FIGURE_TAG] if figure else []
        if WIDEST in tables:
            tags.append(LANDSCAPE_TAG)
        _tags(cell).extend(tags)
        before = cells[index - 1] if index > 0 else None
        after = cells[index + 1] if index + 1 < len(cells) else None
        if before is not None and before.cell_type == "markdown" and len(before.source) <= 3 * _CAPTION_MAX_CHARS:
            _tags(before).extend([KEEP_WITH_NEXT_TAG, *(t for t in tags if t == LANDSCAPE_TAG)])
        if (
            figure
            and after is not None
            and after.cell_type == "markdown"
            and len(after.source) <= _CAPTION_MAX_CHARS
            and not HEADING.search(after.source)
        ):
            _tags(after).append(CAPTION_TAG)
