"""A run attempt as handed to a worker process: everything it needs, nothing secret.

The job travels as JSON on the worker's stdin; the FlowAPI token travels only in the
worker's environment, and only for workflows that asked for it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autoflow_watch.render.context import ReportContext
from autoflow_watch.vocabulary import AttemptOutcome, KeptExecution


@dataclass(frozen=True)
class SandboxSpec:
    """How a workflow's kernels are sealed: the mode and what it grants beyond the defaults (docs/sandbox.md).

    ``deny`` is the daemon's forbidden list (store, inbox, outbox, config, secrets, home):
    nothing inside it is granted, even inside a granted folder.
    """

    mode: str = "best-effort"  # "best-effort" | "required" | "off"
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    connect_ports: tuple[int, ...] = ()

    @property
    def sealed(self) -> bool:
        return self.mode != "off"

    @classmethod
    def from_fields(cls, data: dict[str, Any] | None) -> SandboxSpec:
        data = data or {}
        return cls(
            mode=str(data.get("mode", "best-effort")),
            read=tuple(data.get("read", ())),
            write=tuple(data.get("write", ())),
            deny=tuple(data.get("deny", ())),
            connect_ports=tuple(int(p) for p in data.get("connect_ports", ())),
        )


@dataclass(frozen=True)
class KernelProfile:
    """What makes two kernels interchangeable: kernelspec, working folder, and whether it holds the token.

    A pre-started kernel serves a notebook only when their profiles are equal (and, for a
    token kernel, the token is still the current one).
    """

    kernel: str
    cwd: str
    with_token: bool = False
    sandbox: SandboxSpec = SandboxSpec()

    @classmethod
    def from_fields(cls, data: dict[str, Any]) -> KernelProfile:
        return cls(
            data["kernel"], data["cwd"], bool(data.get("with_token")), SandboxSpec.from_fields(data.get("sandbox"))
        )


@dataclass(frozen=True)
class NotebookJob:
    """One notebook of a run as the worker executes it."""

    name: str
    path: str
    upstream: list[str]
    declared: list[str]
    source_sha256: str
    formats: list[str] = field(default_factory=list)  # empty: not a report
    show_code: bool = False
    pdf_engine: str = "weasyprint"
    mapping: dict[str, str] | None = None  # AutoFlow's NAME -> SOURCE; None: the declared parameters


@dataclass(frozen=True)
class RunJob:
    """One attempt of a run: what to execute, with which settings, where to write."""

    workflow: str
    reference_date: str
    run_id: str
    attempt: int
    started_at: float
    date_ranges: list[list[str]]
    parameters: dict[str, Any]
    notebooks: list[NotebookJob]
    work_dir: str
    kernel: str
    cell_timeout_s: float
    run_timeout_s: float
    kernel_start_timeout_s: float
    flowapi_url: str | None = None
    paper_size: str = "A4"
    flowapi_token: bool = False  # whether this workflow's kernels are handed FLOWAPI_TOKEN
    sandbox: SandboxSpec = SandboxSpec()
    max_notebook_bytes: int = 256 * 1024 * 1024  # [execution] max_notebook_bytes
    preload: list[str] | None = None  # kernel_start = "fork" on a Dask worker: what its template imports
    kept: list[KeptExecution] = field(default_factory=list)  # earlier executions it may reuse (docs/reuse.md)

    def kernel_profile(self, notebook: NotebookJob) -> KernelProfile:
        """The kernel a notebook of this run needs (release 1: the notebook's folder as working folder)."""
        return KernelProfile(self.kernel, str(Path(notebook.path).parent), self.flowapi_token, self.sandbox)

    def kernel_profiles(self) -> list[KernelProfile]:
        """The kernels this run needs, in order, one per notebook."""
        return [self.kernel_profile(notebook) for notebook in self.notebooks]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def failure_dir(self) -> Path:
        """Where a failed attempt's debugging copies are written, inside its run folder."""
        folder = Path(self.work_dir) / "failed"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def report_context(self, status: str, finished_at: float | None) -> ReportContext:
        """What the header of a report (or a failure's HTML) made from this attempt says."""
        return ReportContext(
            self.workflow, self.reference_date, self.run_id, self.started_at, finished_at, status, self.paper_size
        )

    @classmethod
    def from_json(cls, text: str) -> RunJob:
        data = json.loads(text)
        data["notebooks"] = [NotebookJob(**nb) for nb in data["notebooks"]]
        data["sandbox"] = SandboxSpec.from_fields(data.get("sandbox"))
        data["kept"] = [KeptExecution(**{**k, "files": tuple(k.get("files", ()))}) for k in data.get("kept", [])]
        return cls(**data)


@dataclass
class NotebookOutcome:
    """A notebook that ran to its end (or was reused), for the manifest and the ``executions`` table."""

    name: str
    source_sha256: str
    duration_s: float
    output_path: str
    parameters_sha256: str = ""
    kernel: str = ""
    started_at: float = 0.0  # when the execution began (a reused one: when the original began)
    reused_from: str | None = None  # the run_id of the attempt that executed it; None: this attempt did
    files: list[str] = field(default_factory=list)  # what it wrote in the run folder, relative to it
    executed_s: float | None = None  # a reused one: how long the original execution took


@dataclass
class WorkerResult:
    """What a worker writes to ``result.json`` in its run folder when it ends by itself."""

    outcome: AttemptOutcome  # succeeded or failed: a worker that ends by itself never says interrupted
    notebooks: list[NotebookOutcome] = field(default_factory=list)
    report_files: list[str] = field(default_factory=list)
    failed_files: list[str] = field(default_factory=list)
    error_type: str | None = None
    error: str | None = None
    failing_notebook: str | None = None
    failing_cell: int | None = None
    traceback: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> WorkerResult:
        data = json.loads(text)
        data["notebooks"] = [NotebookOutcome(**nb) for nb in data["notebooks"]]
        data["outcome"] = AttemptOutcome(data["outcome"])
        return cls(**data)


def kernel_log_path(work_dir: str, notebook: str) -> Path:
    """Where a notebook's kernel writes its own stdout and stderr (kept out of the daemon's JSON logs)."""
    return Path(work_dir) / f"{notebook}.kernel.log"


def kernel_log_tail(work_dir: str, notebook: str, lines: int = 40) -> str:
    """The kernel's last words, for error.txt: a crash message, a C library's complaint."""
    try:
        text = kernel_log_path(work_dir, notebook).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = "\n".join(text.rstrip().splitlines()[-lines:])
    return f"\n\nThe kernel's own output (last {lines} lines at most):\n{tail}" if tail else ""
