"""How wide and how long an HTML table is, as CSS classes for the print stylesheet.

Print cannot scroll. A number broken over two lines ("1000." / "3") is worse than small type,
so the print size of a table's type is chosen from what its cells hold: the largest size at
which every column's longest unbreakable text (a number, a word, a row label) fits the page
width. Widths are measured with DejaVu Sans' metrics (the font matplotlib ships; the widest
of the report's fonts), so the estimate errs towards fitting. A table that fits portrait only below
:data:`_PORTRAIT_MIN_PT` gets a landscape page of its own (:data:`WIDEST`); one that fits
nowhere gets the smallest type and may break inside cells rather than be clipped.
A short table is kept on one page rather than leaving its header and one row at a page's foot.
On screen, wide tables scroll; the column-count classes only tighten their padding there.
"""

from __future__ import annotations

import functools
import html
import re
from typing import Any

_ROW = re.compile(r"<tr\b.*?</tr>", re.IGNORECASE | re.DOTALL)
_CELL = re.compile(r"<(?P<tag>t[hd])\b(?P<attrs>[^>]*)>(?P<body>.*?)(?=<t[hd]\b|</tr)", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
SHORT_TABLE_ROWS = 32
WIDEST = "afw-table-widest"  # printed on a landscape page
WRAP = "afw-table-wrap"  # fits nowhere: cells may break anywhere
_WIDTH_CLASSES = ((22, "afw-table-cols-22"), (14, "afw-table-wider"), (8, "afw-table-wide"))  # more columns than ->

# usable widths in points (paper minus 16 mm side margins), portrait and landscape
_USABLE_PT = {"A4": (178 / 25.4 * 72, 265 / 25.4 * 72), "Letter": (183.9 / 25.4 * 72, 247.4 / 25.4 * 72)}
_FIT_STEPS = (8.0, 7.5, 7.0, 6.5, 6.0, 5.5, 5.0)  # print sizes, pt; report.css has a class for each
_PORTRAIT_MIN_PT = 6.5
_PADDING_EM = {8.0: 1.2}  # left + right padding of a cell (report.css); smaller sizes: .6 em
_SLACK = 1.03  # kerning is ignored, bold is estimated: keep a little room


@functools.lru_cache(maxsize=1)
def _face() -> Any:
    """DejaVu Sans as matplotlib ships it: the metrics of the report's widest fallback font."""
    from matplotlib.font_manager import FontProperties, findfont
    from matplotlib.ft2font import FT2Font

    face = FT2Font(findfont(FontProperties(family="DejaVu Sans")))
    face.set_size(100, 72)
    return face


@functools.lru_cache(maxsize=4096)
def _char_em(char: str) -> float:
    from matplotlib.ft2font import LoadFlags

    try:
        advance = _face().load_char(ord(char), flags=LoadFlags.NO_HINTING).linearHoriAdvance
    except (RuntimeError, ValueError, OverflowError):
        return 1.0
    return float(advance) / 65536 / 100 or 1.0


def _em_width(text: str) -> float:
    return sum(_char_em(char) for char in text)


def _unbreakable_em(tag: str, body: str) -> float:
    """The widest run the layout cannot break: a row label (kept on one line) or a word."""
    text = html.unescape(_TAG.sub(" ", body)).strip()
    if tag.lower() == "th":
        return _em_width(text) * 1.08 if text else 0.0
    return max((_em_width(word) for word in text.split()), default=0.0)


def _column_widths(rows: list[str]) -> list[float]:
    """Per column position, the widest unbreakable text in it, in em (colspans counted once)."""
    widths: list[float] = []
    for row in rows:
        for index, cell in enumerate(_CELL.finditer(row)):
            if "colspan" in cell.group("attrs").lower():
                continue
            width = _unbreakable_em(cell.group("tag"), cell.group("body"))
            if index >= len(widths):
                widths.append(width)
            else:
                widths[index] = max(widths[index], width)
    return widths


def _fit(widths: list[float], available_pt: float) -> float | None:
    """The largest print size at which the columns fit ``available_pt``, or None."""
    for size in _FIT_STEPS:
        padding = len(widths) * _PADDING_EM.get(size, 0.6)
        if (sum(widths) + padding) * size * _SLACK <= available_pt:
            return size
    return None


def fit_class(size: float) -> str:
    return f"afw-fit-{round(size * 10)}"


def table_classes(fragment: str, paper_size: str = "A4") -> str:
    """Space-separated classes for an HTML output holding a table ('' when it holds none)."""
    if "<table" not in fragment.lower():
        return ""
    rows = _ROW.findall(fragment)
    widest = max((len(_CELL.findall(row)) for row in rows), default=0)
    classes = [next((name for limit, name in _WIDTH_CLASSES if widest > limit), "")]
    widths = _column_widths(rows)
    portrait_pt, landscape_pt = _USABLE_PT.get(paper_size, _USABLE_PT["A4"])
    portrait = _fit(widths, portrait_pt)
    if portrait is not None and portrait >= _PORTRAIT_MIN_PT:
        classes.append(fit_class(portrait))
    else:
        landscape = _fit(widths, landscape_pt)
        classes += [WIDEST, fit_class(landscape or _FIT_STEPS[-1])]
        if landscape is None:
            classes.append(WRAP)
    if len(rows) <= SHORT_TABLE_ROWS:
        classes.append("afw-table-short")
    return " ".join(c for c in classes if c)
