"""What a report's header says about the run that made it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportContext:
    workflow: str
    reference_date: str  # "YYYY-MM-DD"
    run_id: str
    started_at: float  # epoch seconds
    finished_at: float | None
    status: str  # "succeeded" | "failed"
    paper_size: str = "A4"  # or "Letter"
