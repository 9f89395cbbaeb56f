"""Durations as operators write them in the config: ``30s``, ``10m``, ``1h``, ``2d``."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """Parse ``"10m"`` into a timedelta; bare numbers are seconds.

    Raises ValueError with a message that shows the accepted forms.
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, bool):
        raise ValueError(f"expected a duration like '30s', '10m', '1h' or '2d', got {text!r}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ValueError(f"a duration cannot be negative, got {text!r}")
        return timedelta(seconds=float(text))
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"expected a duration like '30s', '10m', '1h' or '2d', got {text!r}")
    number, unit = match.groups()
    return timedelta(seconds=float(number) * _UNIT_SECONDS[unit])


def format_duration(delta: timedelta) -> str:
    """Render a timedelta in the config's own notation, for messages and status."""
    seconds = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
