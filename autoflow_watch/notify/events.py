"""What a notification is about: one concluded attempt, classified as DESIGN.md's events."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from autoflow_watch.vocabulary import AttemptOutcome


class EventKind(str, enum.Enum):
    """The run events ``[notify] on`` chooses from."""

    FAILED = "failed"  # an attempt failed and will be retried
    DEAD = "dead"  # a run used its last attempt
    RECOVERED = "recovered"  # a run succeeded after a failed or dead attempt
    SUCCEEDED = "succeeded"  # every other success

    @property
    def is_failure(self) -> bool:
        return self in (EventKind.FAILED, EventKind.DEAD)


def classify(outcome: AttemptOutcome, dead: bool, previous_failed: bool) -> EventKind | None:
    """The event of an attempt that ended with ``outcome``; None for one given back (SIGTERM).

    ``dead``: the run has no attempt left; ``previous_failed``: the run's last counted attempt
    before this one failed or expired. A run that recovers is ``recovered``, never also
    ``succeeded``.
    """
    if outcome is AttemptOutcome.SUCCEEDED:
        return EventKind.RECOVERED if previous_failed else EventKind.SUCCEEDED
    if outcome.is_failure:
        return EventKind.DEAD if dead else EventKind.FAILED
    return None


@dataclass(frozen=True)
class RunEvent:
    """One notification-worthy moment of a run, with everything a message names."""

    kind: EventKind
    workflow: str
    reference_date: str
    run_id: str
    attempt: int
    max_attempts: int
    notebook: str | None = None  # the failing notebook
    cell: int | None = None
    error: str | None = None  # "ValueError: bad input", first line only
    folder: Path | None = None  # the report folder, or the attempt's _failed/ folder
    attachment: Path | None = None  # the failed notebook's HTML, or the report's PDF
    reused: tuple[str, ...] = ()  # the notebooks this attempt reused instead of executing (docs/reuse.md)


def first_line(text: str | None, limit: int = 300) -> str | None:
    """The first non-empty line of an error text, cut to ``limit`` characters."""
    if not text:
        return None
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return None
