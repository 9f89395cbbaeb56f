"""The shared vocabulary of every layer: run and attempt states, outcomes, facts, claims, records.

It imports nothing of the package, so a worker process, a source or the planner can speak it
without the store (SQLAlchemy) or anything above it.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any


class RunState(str, enum.Enum):
    """Where a run is in its life: ``pending -> running -> succeeded``, or ``failed`` / ``dead``."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"


class AttemptOutcome(str, enum.Enum):
    """How an attempt ended (``RUNNING`` while it has not); the store counts attempts by it."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # counts, and retries after the backoff or goes dead
    INTERRUPTED = "interrupted"  # SIGTERM or a lost scheduler: given back, does not count
    EXPIRED = "expired"  # its daemon vanished; found by lease expiry or at start-up: counts

    @property
    def is_failure(self) -> bool:
        """A counted attempt that did not succeed (``failed`` or ``expired``)."""
        return self in (AttemptOutcome.FAILED, AttemptOutcome.EXPIRED)

    @property
    def counts(self) -> bool:
        """The attempt used one of the run's attempts (it ended, and was not given back)."""
        return self not in (AttemptOutcome.RUNNING, AttemptOutcome.INTERRUPTED)


class StepState(str, enum.Enum):
    """Where one notebook of an attempt is."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    EXPIRED = "expired"
    REUSED = "reused"  # not sent to a kernel: an earlier attempt's execution was copied in (docs/reuse.md)


class ExecutionOutcome(str, enum.Enum):
    """How one notebook's execution in an attempt ended, as the ``executions`` table keeps it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class KeptExecution:
    """A notebook's most recent successful execution in a run, kept for a later attempt to reuse.

    ``run_id`` is the attempt whose folder holds the copy; ``executed_by`` the attempt that
    actually executed it (the same across several reuses). docs/reuse.md has the rules.
    """

    notebook: str
    run_id: str
    executed_by: str
    source_sha256: str
    parameters_sha256: str
    kernel: str
    started_at: float
    duration_s: float
    folder: str
    host: str
    files: tuple[str, ...] = ()


class Requeue(str, enum.Enum):
    """What asking for a run again did to it (``rerun``, ``backfill``, a redelivered fact)."""

    QUEUED = "queued"  # finished: pending again with a fresh attempt budget
    AFTER_CURRENT_ATTEMPT = "after-current-attempt"  # running: queued again when this attempt ends
    MISSING = "missing"  # no such run yet
    UNCHANGED = "unchanged"  # in a state the caller did not ask to requeue


class FactChange(str, enum.Enum):
    """What recording a fact changed in the store."""

    NEW = "new"
    REDELIVERED = "redelivered"  # the same source reported it again: metadata updated
    CONFIRMED = "confirmed"  # another source reported a known fact: noted, first source kept


@dataclass(frozen=True)
class Fact:
    """A fact: dataset D has data for date X, as a source reports it."""

    dataset: str
    day: dt.date
    source: str
    metadata: dict[str, Any] | None = None
    delivery_key: str | None = None  # same key again = the same marker seen twice, not a redelivery


@dataclass(frozen=True)
class FactTimes:
    """When a fact was first seen and last (re)delivered, for the redelivery policy."""

    first_seen_at: float
    updated_at: float


@dataclass(frozen=True)
class Claim:
    """A run this daemon now holds a lease on, for one attempt."""

    pk: int
    workflow: str
    reference_date: dt.date
    run_id: str
    attempt: int
    started_at: float


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of a run, as the attempt journal holds it."""

    run_id: str
    run_pk: int
    number: int
    owner: str
    host: str
    pid: int
    outcome: AttemptOutcome
    started_at: float
    finished_at: float | None = None
    error_type: str | None = None
    error: str | None = None
    failing_notebook: str | None = None
    failing_cell: int | None = None
    parameters: dict[str, Any] | None = None
    kernel_pids: list[int] = field(default_factory=list)
    work_dir: str | None = None

    @property
    def holder(self) -> str:
        """``"<host>:<pid>"``: the daemon that made this attempt."""
        return f"{self.host}:{self.pid}"


@dataclass(frozen=True)
class StepStatus:
    """One notebook of a run, as ``status`` shows it."""

    notebook: str
    state: StepState
    duration_s: float | None
    error: str | None


@dataclass(frozen=True)
class RunStatus:
    """One run as ``status`` shows it (the read model of the run records)."""

    workflow: str
    reference_date: dt.date
    state: RunState
    attempts: int
    max_attempts: int
    run_id: str | None
    started_at: float | None
    finished_at: float | None
    next_attempt_at: float | None
    error: str | None
    steps: list[StepStatus] = field(default_factory=list)
    holder: str | None = None  # "<host>:<pid>" of the daemon holding a running run

    @property
    def reused(self) -> int:
        """How many notebooks the latest attempt reused instead of executing."""
        return sum(1 for s in self.steps if s.state is StepState.REUSED)

    def as_json(self) -> dict[str, Any]:
        """The object ``status --json`` prints for this run (DESIGN.md's keys first)."""
        return {
            "workflow": self.workflow,
            "reference_date": self.reference_date.isoformat(),
            "state": self.state.value,
            "attempts": self.attempts,
            "run_id": self.run_id,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "error": self.error,
            "holder": self.holder,
            "next_attempt_at": iso(self.next_attempt_at),
            "max_attempts": self.max_attempts,
            "reused": self.reused,
            "notebooks": [
                {"name": s.notebook, "state": s.state.value, "duration_s": s.duration_s, "error": s.error}
                for s in self.steps
            ],
        }


@dataclass(frozen=True)
class AttemptResult:
    """How an attempt ended, as the executor reports it."""

    outcome: AttemptOutcome
    error_type: str | None = None
    error: str | None = None
    failing_notebook: str | None = None
    failing_cell: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", AttemptOutcome(self.outcome))  # a plain string is accepted


def iso(epoch: float | None) -> str | None:
    """Epoch seconds as an ISO-8601 UTC timestamp, the form every output uses."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, tz=dt.timezone.utc).isoformat(timespec="seconds")
