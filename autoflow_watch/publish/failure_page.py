"""The failure page, ``_failed/<workflow>/<date>/<run_id>/index.html``: why one attempt failed, for a person.

Written into the attempt's folder before it is filed, so it appears with the folder (renamed
into place whole). It says in words what happened (a cell raised, the kernel died, a timeout),
then shows the failing notebook and cell with its source, the error and its traceback, what the
cell wrote to stderr, the last 50 lines of the kernel process's own log, the parameters (secrets
excluded) and links to the executed notebook's HTML and ``error.txt``. Every text is redacted as
``error.txt`` is.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoflow_watch.publish.portal_templates import render_page
from autoflow_watch.secrets import redact_text

KERNEL_LOG_LINES = 50
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_LABEL = re.compile(r"^[a-z_]+: ")  # error.txt's "key: value" lines
_HIDDEN_TAGS = {"papermill-error-cell-tag", "afw-stopped-notice"}
FAILURE_PAGE = "index.html"


class FailureKind(str, enum.Enum):
    """What happened to the attempt, in the words the page's headline uses."""

    CELL_ERROR = "Cell error"
    OUT_OF_MEMORY = "Out of memory"
    KERNEL_DIED = "Kernel died"
    CELL_TIMEOUT = "Cell timeout"
    RUN_TIMEOUT = "Run timeout"
    WORKER_DIED = "Worker died"
    NOT_PUBLISHED = "Publishing failed"
    OTHER = "Stopped"


@dataclass
class FailureFacts:
    """What the daemon knows about a failed attempt when it files it."""

    workflow: str
    reference_date: str
    run_id: str
    attempt: int
    error_type: str | None
    error: str | None
    failing_notebook: str | None
    failing_cell: int | None
    traceback: str
    parameters: dict[str, Any]
    cell_timeout_s: float
    run_timeout_s: float
    notebook_file: Path | None = None  # the executed notebook as far as it got
    kernel_log: Path | None = None  # the kernel process's own stdout/stderr
    files: list[str] = field(default_factory=list)  # names filed beside the page
    error_text: str = ""  # error.txt as filed: what it says about the sandbox is repeated on the page


def classify(facts: FailureFacts) -> FailureKind:
    kind = (facts.error_type or "").strip()
    text = f"{kind} {facts.error or ''}".lower()
    if kind == "CellTimeoutError" or ("timeout" in kind.lower() and "cell" in text):
        return FailureKind.CELL_TIMEOUT
    if kind == "RunTimeout":
        return FailureKind.RUN_TIMEOUT
    if kind == "MemoryError" or _last_error_is_memory(facts.traceback):
        return FailureKind.OUT_OF_MEMORY
    if kind == "DeadKernelError" or "kernel died" in text:
        return FailureKind.KERNEL_DIED
    if kind in ("WorkerDied", "WorkerLost"):
        return FailureKind.WORKER_DIED
    if kind == "PublishError":
        return FailureKind.NOT_PUBLISHED
    if facts.failing_notebook and kind:
        return FailureKind.CELL_ERROR
    return FailureKind.OTHER


def _last_error_is_memory(traceback: str) -> bool:
    """The traceback ends in MemoryError: memory ran out, if only while IPython formatted the cell's error."""
    lines = [line.strip() for line in traceback.strip().splitlines()[-10:]]
    return any(line == "MemoryError" or line.startswith("MemoryError:") for line in lines)


def _seconds(value: float) -> str:
    return f"{value:g} s" if value < 120 else f"{value / 60:g} min"


def explain(facts: FailureFacts, kind: FailureKind) -> str:
    """One paragraph saying what happened, for someone who did not write the notebook."""
    where = _where(facts)
    error = f"{facts.error_type}: {facts.error}" if facts.error_type else (facts.error or "no error text")
    return {
        FailureKind.CELL_ERROR: f"A cell raised an error: {where} raised {error}. The kernel was fine; "
        "the notebook's code (or the data it read) failed.",
        FailureKind.OUT_OF_MEMORY: f"The notebook ran out of memory: {where} raised MemoryError (the "
        "operating system refused it more memory). Reduce what the cell holds at once, or run it where "
        "more memory is allowed.",
        FailureKind.KERNEL_DIED: f"The kernel died while running {where}: the Python process running the "
        "notebook ended without a Python error. Most often it ran out of memory (killed by the system's "
        "out-of-memory killer or a memory limit) or a native library crashed; the kernel's own log, "
        "below, shows its last words if it printed any.",
        FailureKind.CELL_TIMEOUT: f"Timeout: {where} ran longer than cell_timeout "
        f"({_seconds(facts.cell_timeout_s)}) and was stopped. Make the cell faster, or raise "
        "cell_timeout for this workflow.",
        FailureKind.RUN_TIMEOUT: f"Timeout: the run took longer than run_timeout ({_seconds(facts.run_timeout_s)})"
        f" and its kernels were killed while it was in {where}.",
        FailureKind.WORKER_DIED: f"The worker process running this attempt died (killed, out of memory or "
        f"crashed) while it was in {where}: {error}.",
        FailureKind.NOT_PUBLISHED: f"Every notebook ran, but the report could not be published: {error}.",
        FailureKind.OTHER: f"The attempt stopped: {error}.",
    }[kind]


def _where(facts: FailureFacts) -> str:
    if not facts.failing_notebook:
        return "the run"
    if facts.failing_cell is None:
        return f"notebook “{facts.failing_notebook}”"
    return f"cell {facts.failing_cell} of notebook “{facts.failing_notebook}”"


def _clean(text: str) -> str:
    return redact_text(_ANSI.sub("", text))


def _cells(notebook: Path | None) -> list[dict[str, Any]]:
    if notebook is None:
        return []
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [
        c for c in cells if isinstance(c, dict) and not _HIDDEN_TAGS & set(c.get("metadata", {}).get("tags", []) or [])
    ]


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def failing_cell(facts: FailureFacts) -> tuple[int | None, str, str]:
    """(index, source, what it wrote to stderr) of the cell that failed, as papermill marked it."""
    cells = _cells(facts.notebook_file)
    index = facts.failing_cell
    if index is None:
        marked = [
            i
            for i, c in enumerate(cells)
            if c.get("metadata", {}).get("papermill", {}).get("status") in ("failed", "running")
        ]
        index = marked[0] if marked else None
    if index is None or not 0 <= index < len(cells):
        return index, "", ""
    cell = cells[index]
    stderr = "".join(
        _text(o.get("text"))
        for o in cell.get("outputs", []) or []
        if isinstance(o, dict) and o.get("output_type") == "stream" and o.get("name") == "stderr"
    )
    return index, _clean(_text(cell.get("source"))), _clean(stderr)


def kernel_log_tail(path: Path | None, lines: int = KERNEL_LOG_LINES) -> str:
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return _clean("\n".join(text.rstrip().splitlines()[-lines:]))


def sandbox_lines(error_text: str, explanation: str) -> list[str]:
    """What error.txt says about the sandbox that the explanation does not say already, each line once (3 at most).

    error.txt carries the sandbox's hint in its ``error:`` line and again atop the traceback; the
    explanation quotes the error: the page says the hint once.
    """
    said, lines = [explanation], []
    for raw in error_text.splitlines():
        line = _clean(raw.strip())
        if "sandbox" not in line.lower():
            continue
        body = _LABEL.sub("", line)  # "error: ...", "sandbox: ...": the words, without error.txt's label
        if any(body in text for text in said):
            continue
        said.append(line)
        lines.append(line)
    return lines[:3]


def failure_page(facts: FailureFacts) -> str:
    kind = classify(facts)
    index, source, stderr = failing_cell(facts)
    if facts.failing_cell is None and index is not None:
        facts.failing_cell = index
    notebook = facts.failing_notebook
    explanation = _clean(explain(facts, kind))
    return render_page(
        "failure.html.j2",
        facts=facts,
        kind=kind.value,
        explanation=explanation,
        sandbox=sandbox_lines(facts.error_text, explanation),
        error=_clean(f"{facts.error_type}: {facts.error or ''}" if facts.error_type else facts.error or ""),
        source=source,
        stderr=stderr,
        traceback=_clean(facts.traceback),
        kernel_log=kernel_log_tail(facts.kernel_log),
        log_lines=KERNEL_LOG_LINES,
        parameters={k: _clean(json.dumps(v, ensure_ascii=False)) for k, v in facts.parameters.items()},
        html_file=f"{notebook}.html" if notebook and f"{notebook}.html" in facts.files else None,
        files=[f for f in facts.files if f != FAILURE_PAGE],
    )


def write_failure_page(folder: Path, facts: FailureFacts) -> Path:
    """``<folder>/index.html``, to be filed with the attempt's other files."""
    path = folder / FAILURE_PAGE
    path.write_text(failure_page(facts), encoding="utf-8")
    return path
