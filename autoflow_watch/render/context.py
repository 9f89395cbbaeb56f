"""What a report's header says about the run that made it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

PAPER_SIZES = ("A4", "Letter")


@dataclass(frozen=True)
class ReportContext:
    """What a report's header says about the run that made it."""

    workflow: str
    reference_date: str  # "YYYY-MM-DD"
    run_id: str
    started_at: float  # epoch seconds
    finished_at: float | None
    status: str  # "succeeded" | "failed"
    paper_size: str = "A4"  # or "Letter"

    def run_time(self) -> str:
        """When the run happened and how long it took, in the server's local time zone.

        Readers compare it with their own clock; a report for a director says "06:12 CET",
        not an epoch number.
        """
        started = dt.datetime.fromtimestamp(self.started_at).astimezone()
        text = started.strftime("%Y-%m-%d %H:%M %Z").strip()
        if self.finished_at is not None and self.finished_at >= self.started_at:
            text += f" ({duration_text(self.finished_at - self.started_at)})"
        return text

    def page_size(self) -> str:
        """The CSS ``@page`` size; an unknown value falls back to A4 rather than failing a report."""
        return self.paper_size if self.paper_size in PAPER_SIZES else "A4"


def duration_text(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: how long a run took, for people."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
