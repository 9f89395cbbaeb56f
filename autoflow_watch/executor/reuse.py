"""Execute or reuse: whether a notebook's earlier execution in this run stands in for executing it again.

The daemon hands an attempt the executions it may reuse (``RunJob.kept``: the most recent
successful one per notebook, already checked against ``reuse``, ``--fresh``, the run's facts
and readability). Here, as the attempt reaches each notebook, the rest is checked — the
file's bytes, the parameters, the kernel, and that every upstream was itself reused — and a
reused notebook's files are copied (never linked) into the new attempt's folder.
docs/reuse.md has the whole contract.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from autoflow_watch.executor.job import NotebookJob, NotebookOutcome, RunJob
from autoflow_watch.executor.params import identity_parameters
from autoflow_watch.executor.run_view import copy_regular
from autoflow_watch.secrets import public_parameters
from autoflow_watch.vocabulary import KeptExecution

# what the attempt itself puts in its run folder beside a notebook's own files
_NOT_WRITTEN = ("failed", "report")


def parameters_sha256(job: RunJob, notebook: NotebookJob) -> str:
    """The sha256 of the notebook's parameters without ``run_id`` and upstream paths.

    Secret-named values are redacted first, as everywhere the store keeps parameters: nothing
    derived from a secret is stored (a changed secret alone wants ``--fresh``).
    """
    values = public_parameters(identity_parameters(job, notebook))
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def reusable(
    job: RunJob, notebook: NotebookJob, digest: str, parameters: str, reused: set[str]
) -> tuple[KeptExecution | None, str | None]:
    """The execution to reuse for ``notebook``, or None and why not (None when there was nothing to reuse)."""
    kept = next((k for k in job.kept if k.notebook == notebook.name), None)
    if kept is None:
        return None, None
    if kept.source_sha256 != digest:
        return None, "the notebook's file changed"
    if kept.parameters_sha256 != parameters:
        return None, "its parameters changed"
    if kept.kernel != job.kernel:
        return None, "its kernel changed"
    executed = [name for name in notebook.upstream if name not in reused]
    if executed:
        return None, f"upstream {', '.join(executed)} executed again"
    return kept, None


def copy_kept(kept: KeptExecution, work: Path, log: Any) -> float | None:
    """Copy the kept execution's notebook and files into ``work``; seconds taken, or None (nothing left copied)."""
    started = time.monotonic()
    folder = Path(kept.folder)
    copied: list[Path] = []
    for name in (f"{kept.notebook}.ipynb", *kept.files):
        relative = Path(name)
        target = work / relative
        if relative.is_absolute() or ".." in relative.parts or not copy_regular(folder / relative, target):
            log.warning("reuse.copy_failed", folder=str(folder), file=name, hint="the notebook is executed instead")
            for path in copied:
                path.unlink(missing_ok=True)
            return None
        copied.append(target)
    return time.monotonic() - started


def reused_outcome(kept: KeptExecution, digest: str, output: Path, seconds: float) -> NotebookOutcome:
    """The manifest's (and the store's) entry for a reused notebook."""
    return NotebookOutcome(
        kept.notebook,
        digest,
        round(seconds, 3),
        str(output),
        parameters_sha256=kept.parameters_sha256,
        kernel=kept.kernel,
        started_at=kept.started_at,
        reused_from=kept.executed_by,
        files=list(kept.files),
        executed_s=kept.duration_s,
    )


def run_files(work: Path) -> set[str]:
    """The regular files in the run folder now, relative to it."""
    found: set[str] = set()
    for root, dirs, files in os.walk(work, followlinks=False):
        if Path(root) == work:
            dirs[:] = [d for d in dirs if d not in _NOT_WRITTEN]
        found.update(str((Path(root) / name).relative_to(work)) for name in files)
    return found


def written(work: Path, before: set[str], notebook: str) -> list[str]:
    """The files ``notebook`` added to the run folder (not its executed copy or its kernel's log)."""
    new = run_files(work) - before
    return sorted(name for name in new if name != f"{notebook}.ipynb" and not name.endswith(".kernel.log"))
