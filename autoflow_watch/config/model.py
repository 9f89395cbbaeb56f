"""The config file's shape, as typed pydantic models.

Field names are the TOML keys; every model forbids unknown keys so that a typo is an
error at start, not a silently ignored setting.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from autoflow_watch.config.cron import check_cron
from autoflow_watch.config.durations import parse_duration
from autoflow_watch.config.stencil import DEFAULT_STENCIL, Stencil, parse_stencil
from autoflow_watch.extensions import EXECUTORS, FORMATS, one_of

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DATASET_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


class DatasetsMatch(str, Enum):
    """Which of a workflow's datasets must have a date for the date to be available to it."""

    ALL = "all"  # every listed dataset (the default)
    ANY = "any"  # at least one (AutoFlow's union of CDR types)


class SandboxMode(str, Enum):
    """``[execution] sandbox``: how much of the notebook sandbox must hold (docs/sandbox.md)."""

    BEST_EFFORT = "best-effort"  # enforce what this host's Landlock offers, say what it does not
    REQUIRED = "required"  # refuse to start unless files, TCP and signals are all enforced
    OFF = "off"  # kernels run with the daemon user's rights, as in release 2


class _Strict(BaseModel):
    """Base of every config section: unknown keys are errors, values are validated on assignment too."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsConfig(_Strict):
    """[paths]: where the notebooks, inbox, outbox and run folders are, and the state store's URL."""

    notebooks: Path = Path("notebooks")
    inbox: Path = Path("var/inbox")
    outbox: Path = Path("var/outbox")
    work: Path = Path("var/work")
    state: str = "sqlite:///var/state/autoflow.db"
    state_password_file: Path | None = None  # the PostgreSQL store's password, re-read at each connection


class DaskTlsConfig(_Strict):
    """The files of Dask's TLS security for ``tls://`` schedulers (relative paths: to the config file)."""

    ca_file: Path
    cert: Path
    key: Path


def _registered(registry: dict[str, Any]) -> AfterValidator:
    """A validator accepting only a name of ``registry`` (read when validating, not a fixed list)."""

    def check(name: str) -> str:
        if name not in registry:
            expected = {"expected": one_of(list(registry))}
            raise PydanticCustomError("literal_error", "Input should be {expected}", expected)
        return name

    return AfterValidator(check)


class KernelStart(str, Enum):
    """``[execution] kernel_start``: fork kernels from a pre-imported template, or spawn each one."""

    FORK = "fork"
    SPAWN = "spawn"


ModuleName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]


class ExecutionConfig(_Strict):
    """[execution]: which executor, how many runs at once, the worker pool, timeouts, retries and leases."""

    backend: Annotated[str, _registered(EXECUTORS)] = "local"
    dask_scheduler: str | None = None
    dask_tls: DaskTlsConfig | None = None
    dask_insecure: bool = Field(False, strict=True)  # allow a plain tcp:// scheduler (no encryption, no authentication)
    max_parallel_runs: int = Field(2, ge=1, le=256, strict=True)
    kernel: str = "python3"
    cell_timeout: Duration = timedelta(minutes=10)
    run_timeout: Duration = timedelta(hours=1)
    max_attempts: int = Field(3, ge=1, le=100, strict=True)
    retry_backoff: Duration = timedelta(minutes=1)
    shutdown_grace: Duration = timedelta(seconds=30)
    lease_renew_interval: Duration = timedelta(seconds=10)
    lease_timeout: Duration = timedelta(seconds=60)
    kernel_start_timeout: Duration = timedelta(seconds=60)
    # an executed notebook larger than this fails its run instead of being read, rendered or shipped
    max_notebook_bytes: int = Field(256 * 1024 * 1024, ge=1024 * 1024, strict=True)
    warm_kernels: int = Field(1, ge=0, le=16, strict=True)  # idle kernels each worker keeps pre-started
    worker_max_runs: int = Field(100, ge=1, le=100_000, strict=True)  # a worker is replaced after this many runs
    sandbox: SandboxMode = SandboxMode.BEST_EFFORT
    # "fork": each kernel is a fork of a template that imported ipykernel and ``preload`` (docs/execution.md)
    kernel_start: KernelStart = KernelStart.FORK
    preload: list[ModuleName] = Field(default_factory=list)


class InboxConfig(_Strict):
    """[inbox]: how long a marker must be left alone before it is read, how often the inbox is rescanned."""

    settle: Duration = timedelta(seconds=2)
    rescan_interval: Duration = timedelta(seconds=60)
    observer: Literal["native", "polling"] = "native"


class FlowApiConfig(_Strict):
    """[flowapi]: the FlowAPI source's server, token, schedule and TLS."""

    url: str
    token_file: Path | None = None
    token_env: str | None = None
    poll_interval: Duration = timedelta(minutes=5)
    schedule: str | None = None  # cron, in the host's time zone: instead of poll_interval
    timeout: Duration = timedelta(seconds=30)
    ssl_certificate: bool | Path = True

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @model_validator(mode="after")
    def _one_way_to_poll(self) -> FlowApiConfig:
        if self.schedule is not None and "poll_interval" in self.model_fields_set:
            raise ValueError("set poll_interval or schedule, not both (schedule replaces poll_interval)")
        return self

    @field_validator("ssl_certificate", mode="before")
    @classmethod
    def _bool_or_path(cls, value: Any) -> Any:
        if not isinstance(value, (bool, str, Path)):  # one clear line, not one per member of the union
            raise ValueError(f"expected true, false or the path of a CA bundle, got {value!r}")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")


class FlowDbConfig(_Strict):
    """``[flowdb]``: read FlowETL's ``etl.etl_records`` for ingested days, LISTENing for the trigger's NOTIFY."""

    url: str
    password_file: Path | None = None
    poll_interval: Duration = timedelta(minutes=5)
    listen: bool = True
    timeout: Duration = timedelta(seconds=30)

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
        check_flowdb_url(value)
        return value

    @field_validator("timeout")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() < 1:
            raise ValueError("must be at least 1s")
        return value


class OutboxConfig(_Strict):
    """[outbox]: how long reports are kept, and the paper size of PDFs."""

    keep_days: int | None = Field(None, ge=1)
    paper_size: Literal["A4", "Letter"] = "A4"


class ReportConfig(_Strict):
    """A notebook's ``report = {...}``: the formats it is published in, and how."""

    formats: list[Annotated[str, _registered(FORMATS)]] = Field(default_factory=lambda: ["html", "pdf"])
    show_code: bool = False
    pdf_engine: Literal["weasyprint", "chromium"] = "weasyprint"


class NotebookConfig(_Strict):
    """One ``[[workflow.notebook]]``: its file, its upstreams, its parameter mapping and its report."""

    name: str
    path: Path
    upstream: list[str] = Field(default_factory=list)
    # AutoFlow's mapping: parameter NAME in the notebook gets the value of SOURCE (None: no mapping)
    parameters: dict[str, str] | None = None
    report: ReportConfig | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if value.lower() == "index":
            raise ValueError(
                "notebook name 'index' is taken: outbox/_failed/<workflow>/<date>/<run_id>/index.html is the "
                "failure page; give the notebook another name"
            )
        return _check_name(value, "notebook name")


class WorkflowConfig(_Strict):
    """One ``[[workflow]]`` as written: datasets, stencil, parameters, notebooks and per-workflow overrides."""

    name: str
    datasets: list[str] = Field(min_length=1)
    datasets_match: DatasetsMatch = DatasetsMatch.ALL
    date_stencil: Stencil = Field(default_factory=lambda: list(DEFAULT_STENCIL))
    earliest_date: dt.date | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    kernel: str | None = None
    cell_timeout: Duration | None = None
    run_timeout: Duration | None = None
    max_attempts: int | None = Field(None, ge=1, le=100)
    retry_backoff: Duration | None = None
    flowapi_token: bool = False
    on_redelivery: Literal["ignore", "rerun"] = "ignore"
    reuse: bool = Field(True, strict=True)  # a new attempt reuses unchanged successful notebooks (docs/reuse.md)
    read_paths: list[Path] = Field(default_factory=list)  # more that its kernels may read
    write_paths: list[Path] = Field(default_factory=list)  # more that its kernels may write
    connect_ports: list[Annotated[int, Field(ge=1, le=65535, strict=True)]] = Field(default_factory=list)
    notebook: list[NotebookConfig] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if value.lower() in RESERVED_WORKFLOW_NAMES:
            raise ValueError(f"workflow name {value!r} is taken by the outbox's own pages; choose another")
        return _check_name(value, "workflow name")

    @field_validator("datasets")
    @classmethod
    def _dataset_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not DATASET_PATTERN.match(name):
                raise ValueError(f"dataset {name!r} must match [a-z][a-z0-9_-]{{0,63}} (as marker names do)")
        return value

    @field_validator("date_stencil", mode="before")
    @classmethod
    def _stencil(cls, value: object) -> Stencil:
        return parse_stencil(value)

    @field_validator("earliest_date", mode="before")
    @classmethod
    def _date(cls, value: object) -> object:
        if isinstance(value, dt.datetime):
            return value.date()
        return value


NOTIFY_ON = ("failed", "dead", "recovered", "succeeded")


class NotifyConfig(_Strict):
    """``[notify]``: Apprise URLs (inline or in a secret file) and the run events that send a message."""

    urls: list[str] | None = None
    urls_file: Path | None = None
    on: list[Literal["failed", "dead", "recovered", "succeeded"]] = Field(
        default_factory=lambda: ["dead", "recovered"]  # type: ignore[arg-type]
    )

    def __repr_args__(self) -> Any:  # the URLs carry passwords and tokens: never in a repr
        for name, value in super().__repr_args__():
            yield name, ("[redacted]" if name == "urls" and value else value)


class MetricsConfig(_Strict):
    """``[metrics]``: Prometheus exposition over HTTP (``listen``) and/or a node_exporter textfile."""

    listen: str | None = None
    textfile: Path | None = None

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value


def split_listen(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` or ``"[::1]:9464"`` as (host, port); ValueError naming the form otherwise."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\s\[\]]+):(\d{1,5})", value)
    port = int(match.group(2) or match.group(4)) if match else -1
    if match is None or port > 65535:
        raise ValueError(f'expected "host:port" such as "127.0.0.1:9464", got {value!r}')
    return (match.group(1) or match.group(3)), port


class AppConfig(_Strict):
    """The whole TOML file, validated."""

    paths: PathsConfig = Field(default_factory=PathsConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    inbox: InboxConfig = Field(default_factory=InboxConfig)
    flowapi: FlowApiConfig | None = None
    flowdb: FlowDbConfig | None = None
    outbox: OutboxConfig = Field(default_factory=OutboxConfig)
    notify: NotifyConfig | None = None
    metrics: MetricsConfig | None = None
    workflow: list[WorkflowConfig] = Field(default_factory=list)


def check_flowdb_url(value: str) -> None:
    """A PostgreSQL URL naming a database and carrying no password (that belongs in ``password_file``)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    example = "postgresql+psycopg://autoflow_reader@flowdb.example.org:5432/flowdb"
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"expected a PostgreSQL URL such as {example}") from None
    if url.drivername not in ("postgresql", "postgresql+psycopg"):
        raise ValueError(f"expected a postgresql:// or postgresql+psycopg:// URL such as {example}")
    if url.password is not None or "password" in url.query:
        raise ValueError("the URL must not carry the password: put it in password_file (a secret), or use PGPASSFILE")
    if not url.database:
        raise ValueError(f"the URL names no database; expected one such as {example}")


# outbox/index.html and outbox/index.json are the portal's overview (docs/outbox.md)
RESERVED_WORKFLOW_NAMES = frozenset({"index.html", "index.json"})


def _check_name(value: str, what: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(
            f"{what} {value!r} must start with a letter or digit and use only letters, digits, '_', '.', '-' "
            "(it becomes a folder name in the outbox)"
        )
    return value
