"""What a daemon and its workers say to each other: commands down, events up.

Every message is a frozen dataclass; on a pipe it travels as one JSON line
``{"type": <name>, ...fields}``. An executor (local processes, Dask) speaks in these
types, so the daemon's side never parses a string or compares an event's name. Secrets
(the FlowAPI token) travel only in :class:`RunCommand` and :class:`KernelHint` and never
appear in their ``repr``.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from autoflow_watch.executor.job import KernelProfile, RunJob, WorkerResult
from autoflow_watch.vocabulary import StepState


class StopReason(str, enum.Enum):
    """Why the daemon cut a run short."""

    RUN_TIMEOUT = "run_timeout"
    INTERRUPTED = "interrupted"  # SIGTERM past shutdown_grace
    LEASE_LOST = "lease_lost"


@dataclass(frozen=True)
class Message:
    """Base of every command and event: its wire name and its JSON form."""

    kind: ClassVar[str] = ""

    def to_line(self) -> str:
        return json.dumps({"type": self.kind, **asdict(self)}) + "\n"

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> Message:
        return cls(**data)


# -- daemon -> worker ---------------------------------------------------------------------------
@dataclass(frozen=True)
class KernelHint(Message):
    """Which kernels to keep pre-started while idle (the notebooks most likely to come next)."""

    kind: ClassVar[str] = "hint"
    profiles: list[KernelProfile]
    token: str | None = field(default=None, repr=False)  # only when a profile is a token kernel's

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> KernelHint:
        return cls([KernelProfile.from_fields(p) for p in data["profiles"]], data.get("token"))


@dataclass(frozen=True)
class RunCommand(Message):
    """Run this attempt's notebooks in order, then render its reports."""

    kind: ClassVar[str] = "run"
    job: RunJob
    token: str | None = field(default=None, repr=False)  # FLOWAPI_TOKEN, for flowapi_token workflows only

    def to_line(self) -> str:
        return json.dumps({"type": self.kind, "job": json.loads(self.job.to_json()), "token": self.token}) + "\n"

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> RunCommand:
        return cls(RunJob.from_json(json.dumps(data["job"])), data.get("token"))


@dataclass(frozen=True)
class Retire(Message):
    """Finish nothing new: discard the kernels and exit."""

    kind: ClassVar[str] = "retire"


# -- worker -> daemon ----------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerReady(Message):
    """The worker has imported what it needs and reads commands."""

    kind: ClassVar[str] = "ready"
    pid: int


@dataclass(frozen=True)
class KernelStarted(Message):
    """A kernel process exists (warm or on demand): its process group is the worker's to answer for."""

    kind: ClassVar[str] = "kernel_started"
    pid: int


@dataclass(frozen=True)
class KernelGone(Message):
    """A discarded kernel has exited and its process group was killed."""

    kind: ClassVar[str] = "kernel_gone"
    pid: int


@dataclass(frozen=True)
class KernelAssigned(Message):
    """This kernel now runs this notebook of the current attempt (recorded with the attempt)."""

    kind: ClassVar[str] = "kernel_assigned"
    notebook: str
    pid: int
    warm: bool


@dataclass(frozen=True)
class StepChanged(Message):
    """A notebook of the current attempt started or ended."""

    kind: ClassVar[str] = "step"
    notebook: str
    state: StepState
    duration_s: float | None = None
    error: str | None = None

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> StepChanged:
        return cls(**{**data, "state": StepState(data["state"])})


@dataclass(frozen=True)
class Rendering(Message):
    """The attempt's notebooks ran; this report is being rendered."""

    kind: ClassVar[str] = "render"
    notebook: str
    formats: list[str]


@dataclass(frozen=True)
class RunFinished(Message):
    """The attempt ended by itself; ``retire`` asks for the worker to be replaced (a kernel was lost)."""

    kind: ClassVar[str] = "done"
    result: WorkerResult
    retire: bool = False

    def to_line(self) -> str:
        return (
            json.dumps({"type": self.kind, "result": json.loads(self.result.to_json()), "retire": self.retire}) + "\n"
        )

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> RunFinished:
        return cls(WorkerResult.from_json(json.dumps(data["result"])), bool(data.get("retire")))


Command = KernelHint | RunCommand | Retire
Event = WorkerReady | KernelStarted | KernelGone | KernelAssigned | StepChanged | Rendering | RunFinished
RunEvent = KernelAssigned | StepChanged | Rendering  # what the daemon records about a running attempt

_TYPES: dict[str, type[Message]] = {
    cls.kind: cls
    for cls in (
        KernelHint,
        RunCommand,
        Retire,
        WorkerReady,
        KernelStarted,
        KernelGone,
        KernelAssigned,
        StepChanged,
        Rendering,
        RunFinished,
    )
}


class ProtocolError(ValueError):
    """A line on the pipe that is not a message of this protocol."""


def decode(line: str | bytes) -> Message:
    """The message one JSON line carries; :class:`ProtocolError` for anything else."""
    try:
        data = json.loads(line)
        kind = data.pop("type")
        cls = _TYPES[kind]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ProtocolError(f"not a message: {str(line)[:120]!r}") from error
    known = {f.name for f in fields(cls)}
    try:
        return cls.from_fields({k: v for k, v in data.items() if k in known})
    except (TypeError, ValueError, KeyError) as error:
        raise ProtocolError(f"bad {kind!r} message: {error}") from error
