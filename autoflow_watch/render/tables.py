"""How wide and how long an HTML table is, as CSS classes for the print stylesheet.

Print cannot scroll: a wide table gets smaller (and narrower) type as it widens, the widest
get a landscape page of their own; a short table is kept on one page rather than leaving
its header and one row at the bottom of a page.
"""

from __future__ import annotations

import re

_ROW = re.compile(r"<tr\b.*?</tr>", re.IGNORECASE | re.DOTALL)
_CELL = re.compile(r"<t[hd]\b", re.IGNORECASE)
SHORT_TABLE_ROWS = 32
WIDEST = "afw-table-widest"
_WIDTH_CLASSES = ((22, WIDEST), (14, "afw-table-wider"), (8, "afw-table-wide"))  # more columns than ->


def table_classes(fragment: str) -> str:
    """Space-separated classes for an HTML output holding a table ('' when it holds none)."""
    if "<table" not in fragment.lower():
        return ""
    rows = _ROW.findall(fragment)
    widest = max((len(_CELL.findall(row)) for row in rows), default=0)
    classes = [next((name for limit, name in _WIDTH_CLASSES if widest > limit), "")]
    if len(rows) <= SHORT_TABLE_ROWS:
        classes.append("afw-table-short")
    return " ".join(c for c in classes if c)
