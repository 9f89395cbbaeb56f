"""Scraps as figures: the history's columns, each number with its change against the previous date.

A column is one scrap name glued by a report notebook (``notebook · name`` when two report
notebooks glue the same name). A number reads ``4,273,779 (+5.1 %)``: the change against the
nearest older date that has a number for that scrap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from autoflow_watch.publish.portal_model import DateEntry

MAX_COLUMNS = 12  # beyond that the history would be unreadable; the rest are in index.json
MAX_TEXT = 80


@dataclass(frozen=True)
class FigureColumn:
    """One scrap shown as a column of the history."""

    notebook: str
    name: str
    label: str


@dataclass(frozen=True)
class Figure:
    """One cell of a figure column: the value as text, and its change against the previous date."""

    text: str
    change: str = ""
    direction: str = ""  # "up", "down", "same" or "" (no number to compare)


def scrap_columns(entries: Sequence[DateEntry]) -> list[FigureColumn]:
    """The workflow's scrap columns, in the order the newest report glued them."""
    seen: dict[tuple[str, str], None] = {}
    for entry in entries:
        for notebook, values in entry.scraps.items():
            for name in values:
                seen.setdefault((notebook, name), None)
    names = [name for _, name in seen]
    columns = [
        FigureColumn(notebook, name, name if names.count(name) == 1 else f"{notebook} · {name}")
        for notebook, name in seen
    ]
    return columns[:MAX_COLUMNS]


def is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_number(value: float) -> str:
    """Thousands separated; decimals only where the number has them (``4,273,779``, ``0.1234``, ``12.5``)."""
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.1f}"
    if magnitude >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def format_change(value: float, previous: float) -> tuple[str, str]:
    """``(+5.1 %)`` and its direction; ``(new)`` when the previous value was zero."""
    if previous == 0:
        return ("(±0 %)", "same") if value == 0 else ("(from 0)", "up" if value > 0 else "down")
    percent = (value - previous) / abs(previous) * 100
    if round(percent, 1) == 0:
        return "(±0.0 %)", "same"
    return f"({percent:+.1f} %)", "up" if percent > 0 else "down"


def figures(entries: Sequence[DateEntry], columns: Sequence[FigureColumn]) -> dict[str, list[Figure]]:
    """Per reference date, one figure per column (entries newest first, as the history lists them)."""
    cells: dict[str, list[Figure]] = {e.reference_date: [] for e in entries}
    for column in columns:
        older: float | None = None
        for entry in reversed(entries):  # oldest first: each number meets the one before it
            value = entry.scraps.get(column.notebook, {}).get(column.name)
            cells[entry.reference_date].append(_figure(value, older))
            if is_number(value):
                older = float(value)
    return cells


def _figure(value: Any, older: float | None) -> Figure:
    if value is None:
        return Figure("")
    if not is_number(value):
        text = str(value)
        return Figure(text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…")
    if older is None:
        return Figure(format_number(value))
    change, direction = format_change(float(value), older)
    return Figure(format_number(value), change, direction)
