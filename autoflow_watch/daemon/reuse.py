"""The daemon's half of reuse: which earlier executions a claimed attempt may reuse, and what they replace.

The attempt driver checks each notebook's file, parameters, kernel and upstreams itself
(:mod:`autoflow_watch.executor.reuse`); here, with the store at hand, the run-wide rules:
``reuse = false``, ``--fresh``, the run's facts, and whether this daemon can read the kept
copies. When an attempt ends, its executions are recorded, and older attempts' folders that
no kept execution lives in any more are removed. docs/reuse.md has the contract.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from autoflow_watch.config import Workflow
from autoflow_watch.config.stencil import stencil_dates
from autoflow_watch.executor.base import Execution
from autoflow_watch.logs import get_logger
from autoflow_watch.store import Store
from autoflow_watch.store.executions import ExecutionRow
from autoflow_watch.vocabulary import Claim, ExecutionOutcome, KeptExecution

log = get_logger("autoflow_watch.reuse")


def kept_for(store: Store, workflow: Workflow, claim: Claim) -> list[KeptExecution]:
    """The executions of this run the new attempt may reuse, by the run-wide rules."""
    if not workflow.reuse:
        return []
    journal = store.runs.executions
    kept = journal.kept(claim.pk)
    if not kept:
        return []
    fresh_at = journal.reuse_after(claim.pk)
    kept = [k for k in kept if fresh_at is None or k.started_at >= fresh_at]
    changed = store.facts.changed_at(workflow.datasets, stencil_dates(workflow.stencil, claim.reference_date))
    bound = log.bind(workflow=claim.workflow, reference_date=claim.reference_date.isoformat(), run_id=claim.run_id)
    if kept and changed is not None and any(k.started_at < changed for k in kept):
        bound.info(
            "reuse.facts_changed", hint="a fact the stencil needs is newer than a kept execution: nothing is reused"
        )
        return []
    readable = [k for k in kept if _readable(k)]
    unreadable = [k for k in kept if k not in readable]
    if unreadable:
        bound.warning(
            "reuse.unreadable",
            notebooks=[k.notebook for k in unreadable],
            hosts=sorted({k.host for k in unreadable}),
            folders=sorted({k.folder for k in unreadable}),
            hint="this daemon cannot read these kept copies (another host's folder?): they are executed again",
        )
    return readable


def _readable(kept: KeptExecution) -> bool:
    """Whether this daemon can read the kept copy (on this host, or a folder both hosts see)."""
    folder = Path(kept.folder)
    names = [f"{kept.notebook}.ipynb", *kept.files]
    return all(os.access(folder / name, os.R_OK) and (folder / name).is_file() for name in names)


def record_executions(store: Store, execution: Execution, bound: Any, *, best_effort: bool = False) -> None:
    """Record the attempt's executions; remove older folders none of the run's kept executions is in.

    ``best_effort``: a store error is logged, not raised (the next attempt then executes everything).
    """
    try:
        _record(store, execution, bound)
    except SQLAlchemyError as error:
        if not best_effort:
            raise
        bound.warning("reuse.not_recorded", error=str(error)[:300], hint="the next attempt executes every notebook")


def _record(store: Store, execution: Execution, bound: Any) -> None:
    result, job = execution.result, execution.job
    if result is None:
        return  # cut short: nothing it made is trusted, the earlier executions stay the most recent
    rows = [
        ExecutionRow(
            nb.name,
            ExecutionOutcome.SUCCEEDED,
            nb.reused_from or job.run_id,
            nb.source_sha256,
            nb.parameters_sha256,
            nb.kernel,
            nb.started_at,
            nb.executed_s if nb.reused_from else nb.duration_s,
            tuple(nb.files),
        )
        for nb in result.notebooks
    ]
    if result.failing_notebook:
        rows.append(ExecutionRow(result.failing_notebook, ExecutionOutcome.FAILED, job.run_id))
    journal = store.runs.executions
    journal.record(execution.claim.pk, job.run_id, job.work_dir, rows)
    for folder in journal.replaced(execution.claim.pk, socket.gethostname()):
        if Path(folder) != Path(job.work_dir):
            shutil.rmtree(folder, ignore_errors=True)
            bound.info("reuse.folder_replaced", folder=folder)
