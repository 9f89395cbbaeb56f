"""The shape every source has: what the daemon asks of it, what one poll says, what it records.

A source turns something outside (a folder of markers, FlowAPI, FlowDB, ...) into facts and
does nothing else: it never plans or runs. The daemon builds its sources from
:mod:`autoflow_watch.sources.registry`, starts them, asks their health, polls each once for
``run --once``, tells them about a reload and stops them, always through :class:`Source`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from autoflow_watch.config.model import AppConfig
from autoflow_watch.vocabulary import Fact, FactChange

# Records a batch of facts in one transaction; the changes come back in the facts' order.
RecordFacts = Callable[[list[Fact]], Sequence[FactChange]]


class PollFailure(str, enum.Enum):
    """Why one poll of a source failed: what operators filter the logs on (the ``kind`` field)."""

    UNREACHABLE = "unreachable"  # down, restarting, connection lost, network
    TIMEOUT = "timeout"  # no (complete) answer in time
    REFUSED = "refused"  # the server refused us: the connection (FlowAPI) or the login (FlowDB)
    UNAUTHORIZED = "unauthorized"  # HTTP 401: the token was refused
    FORBIDDEN = "forbidden"  # HTTP 403
    TOKEN = "token"  # our token cannot be read or used
    TLS = "tls"  # certificates: loading them or the handshake
    SERVER_ERROR = "server_error"  # HTTP 5xx
    BAD_RESPONSE = "bad_response"  # an answer that is not what the protocol promises
    NO_PRIVILEGE = "no_privilege"  # no USAGE on schema etl or no SELECT on etl.etl_records
    NO_TABLE = "no_table"  # not a FlowDB: etl.etl_records is missing
    PASSWORD_FILE = "password_file"  # the password file is missing, unreadable or empty
    STORE = "store_error"  # recording the facts in our own store failed
    STOPPED = "stopped"  # the daemon is stopping: the poll was abandoned, not failed
    ERROR = "error"  # anything else


@dataclass(frozen=True)
class PollOutcome:
    """What one poll did: ``failure`` is None when it succeeded."""

    ok: bool
    failure: PollFailure | None = None
    facts: int = 0
    new_facts: int = 0
    datasets: tuple[str, ...] = ()
    skipped: int = 0
    message: str = ""
    duration_s: float = 0.0
    next_poll_s: float = 0.0


@dataclass(frozen=True)
class SourceContext:
    """What the daemon gives a source it builds: the configuration and where facts go."""

    app: AppConfig
    record: RecordFacts
    on_new_facts: Callable[[], None] = lambda: None  # called from the source's thread: keep it quick
    on_failed_poll: Callable[[str], None] = lambda source: None  # the source's name, for metrics
    on_rejected: Callable[[], None] = lambda: None  # a marker went to rejected/ (metrics)
    wanted: Callable[[], Mapping[str, tuple[str, ...]]] = dict  # datasets each workflow waits for
    is_used: Callable[[str], bool] = lambda dataset: True  # some workflow waits for this dataset
    extra: Mapping[str, object] = field(default_factory=dict)  # for sources registered outside the package


@runtime_checkable
class Source(Protocol):
    """A source of facts, as the daemon drives it.

    ``start`` runs it in the background until ``stop``; ``poll_once`` looks once in the
    foreground and returns (``run --once``); ``healthy`` is False only when the source is
    stuck (a failing server is not unhealthy: it is logged and retried); ``reload`` takes a
    new configuration and returns True when the daemon must replace the source with a fresh
    one from the registry. None of them may raise into the daemon.
    """

    name: str

    @property
    def running(self) -> bool: ...

    def start(self) -> None: ...

    def poll_once(self) -> PollOutcome: ...

    def healthy(self) -> bool: ...

    def reload(self, ctx: SourceContext) -> bool: ...

    def stop(self) -> None: ...


class PollError(Exception):
    """A failed poll: ``failure`` says why, ``message`` is safe to log (no token, no password in it)."""

    def __init__(self, failure: PollFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message
