"""Date stencils with FlowKit AutoFlow's semantics.

A stencil is a list of elements, each one of:

- an integer offset ``k``: the single day ``[X+k, X+k+1)``;
- an absolute date: that single day;
- a pair ``[start, end]`` of offsets and/or dates: the half-open range ``[start, end)``.

``[[2016-01-03, -1], -1, 0]`` at reference date ``d`` gives
``[(2016-01-03, d-1), (d-1, d), (d, d+1)]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TypeAlias

StencilBound: TypeAlias = int | dt.date
StencilElement: TypeAlias = int | dt.date | tuple[int | dt.date, int | dt.date]
Stencil = list[StencilElement]

DEFAULT_STENCIL: Stencil = [0]


class StencilError(ValueError):
    """A stencil that cannot be understood; the message says which element and why."""


def _bound(value: object, where: str) -> StencilBound:
    if isinstance(value, bool):
        raise StencilError(f"{where}: expected an integer offset or a date, got {value!r}")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, (int, dt.date)):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise StencilError(f"{where}: expected an integer offset or a date, got {value!r}")


def parse_stencil(raw: object) -> Stencil:
    """Validate a stencil as read from TOML and return it in canonical form.

    Every bad element is named in the one error, so a stencil is fixed in one pass.
    """
    if not isinstance(raw, list) or not raw:
        raise StencilError(f"expected a non-empty list of offsets, dates or [start, end] pairs, got {raw!r}")
    parsed: Stencil = []
    problems: list[str] = []
    for index, element in enumerate(raw):
        try:
            parsed.append(_element(element, f"element {index}"))
        except StencilError as error:
            problems.append(str(error))
    if problems:
        raise StencilError("; ".join(problems))
    return parsed


def _element(element: object, where: str) -> StencilElement:
    if not isinstance(element, (list, tuple)):
        return _bound(element, where)
    if len(element) != 2:
        raise StencilError(f"{where}: a range must be a [start, end] pair, got {element!r}")
    start, end = _bound(element[0], where), _bound(element[1], where)
    reversed_offsets = isinstance(start, int) and isinstance(end, int) and end <= start
    reversed_dates = isinstance(start, dt.date) and isinstance(end, dt.date) and end <= start
    if reversed_offsets or reversed_dates:
        raise StencilError(f"{where}: range end {end} must be after start {start} (end is exclusive)")
    return (start, end)


def _resolve(bound: StencilBound, reference: dt.date) -> dt.date:
    if isinstance(bound, dt.date):
        return bound
    return reference + dt.timedelta(days=bound)


def date_ranges(stencil: Sequence[StencilElement], reference: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The half-open ``(start, end)`` ranges a stencil gives for ``reference``.

    A range whose dates, once resolved, are empty or reversed (an absolute start after
    ``reference - 1``) yields no dates and makes the reference date ineligible: see
    :func:`is_satisfiable`.
    """
    ranges: list[tuple[dt.date, dt.date]] = []
    for element in stencil:
        if isinstance(element, tuple):
            ranges.append((_resolve(element[0], reference), _resolve(element[1], reference)))
        else:
            day = _resolve(element, reference)
            ranges.append((day, day + dt.timedelta(days=1)))
    return ranges


def is_satisfiable(stencil: Sequence[StencilElement], reference: dt.date) -> bool:
    """False when a range resolves to nothing (end not after start) for this reference date."""
    return all(end > start for start, end in date_ranges(stencil, reference))


def stencil_dates(stencil: Sequence[StencilElement], reference: dt.date) -> set[dt.date]:
    """Every single date a stencil needs for ``reference``."""
    return set(_expand(date_ranges(stencil, reference)))


def _expand(ranges: Iterable[tuple[dt.date, dt.date]]) -> Iterable[dt.date]:
    for start, end in ranges:
        day = start
        while day < end:
            yield day
            day += dt.timedelta(days=1)


def ranges_as_strings(ranges: Iterable[tuple[dt.date, dt.date]]) -> list[list[str]]:
    """The ``date_ranges`` notebook parameter: ``[["2026-11-18", "2026-11-25"], ...]``."""
    return [[start.isoformat(), end.isoformat()] for start, end in ranges]
