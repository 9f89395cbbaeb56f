"""What the daemon says about itself: systemd's STATUS= line and ``run --once``'s progress bar."""

from __future__ import annotations


def status_line(counts: dict[str, int], last_report: str) -> str:
    """``2 running, 3 waiting, 0 dead; last report daily/2026-11-24`` (counts by run state)."""
    text = f"{counts['running']} running, {counts['pending'] + counts['failed']} waiting, {counts['dead']} dead"
    return text + (f"; last report {last_report}" if last_report else "")


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """``[##########----------] 5/10 runs`` for ``run --once`` on a terminal (a backfill, say)."""
    total = max(total, done)
    filled = round(width * done / total) if total else 0
    return f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total} runs"
