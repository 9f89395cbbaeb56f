"""Publishing a finished report exactly once, fenced by the run's claim in the store.

1. The report folder is staged whole under ``outbox/.pending/<run_id>/``.
2. One store transaction checks the claim (the run still names this attempt and this daemon)
   and records the success (:func:`autoflow_watch.store.fence.record_success`).
3. Under the run's row lock the staged folder is swapped in by one atomic operation.

A store that is away at step 2 leaves the report staged: the main loop concludes the attempt
again once the store answers, and then publishes it or, when the claim was lost meanwhile,
discards it (logged once). A crash between steps 2 and 3 leaves a ``.pending/`` entry whose
attempt is recorded as succeeded: :func:`finish_staged` (at start and at every lease round, on
every daemon) swaps it in. docs/operations.md "Publishing exactly once" has the argument.
"""

from __future__ import annotations

import enum
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from autoflow_watch import faults
from autoflow_watch.executor.base import Execution
from autoflow_watch.logs import get_logger
from autoflow_watch.publish.staged import (
    StagedReport,
    SwapResult,
    discard_staged,
    manifest_run_id,
    stage_report,
    staged_reports,
    swap_in,
)
from autoflow_watch.store import Store
from autoflow_watch.store.fence import Fence, Permit, publish_permit, record_success
from autoflow_watch.vocabulary import RunState

log = get_logger("autoflow_watch.publishing")
_TOLD_STAGED: set[str] = set()  # run ids whose report was said to wait for the store (this process)
_TOLD_SWAP_FAILED: set[str] = set()  # run ids whose report was said to wait for the outbox (this process)


class Published(str, enum.Enum):
    """How the success of an attempt ended for its report."""

    PUBLISHED = "published"  # recorded and swapped in (or a peer swapped it in)
    RECORDED = "recorded"  # recorded; the swap is left to the next look at staged reports
    LOST = "lost"  # the claim was gone: nothing published, the staged report discarded


def publish_success(
    store: Store, outbox: Path, execution: Execution, owner: str, manifest: dict[str, Any], backoff: timedelta
) -> tuple[Published, RunState | None]:
    """Stage, fence, swap. A store error at the fence propagates: the report stays staged for the next try."""
    job, claim = execution.job, execution.claim
    run_log = log.bind(workflow=job.workflow, reference_date=job.reference_date, run_id=job.run_id)
    assert execution.result is not None
    files = [Path(p) for p in execution.result.report_files]
    fresh = False
    if manifest_run_id(outbox / job.workflow / job.reference_date) != job.run_id:  # not in place already
        _, fresh = stage_report(outbox, job.workflow, job.reference_date, files, manifest)
    faults.point("before-record")
    try:
        verdict, state = record_success(store.engine, claim, owner, backoff)
    except Exception:
        if fresh and job.run_id not in _TOLD_STAGED:  # once, also when a peer discarded it meanwhile
            _TOLD_STAGED.add(job.run_id)
            run_log.warning("run.report_staged", what="the store is away: the report waits until it confirms the claim")
        raise
    _TOLD_STAGED.discard(job.run_id)
    if verdict is Fence.LOST:
        discard_staged(outbox, job.workflow, job.reference_date, job.run_id)
        run_log.error("run.lost", what="another daemon took the run over (its lease lapsed): its report is discarded")
        return Published.LOST, None
    faults.point("after-record")
    try:
        swapped = finish_one(store, outbox, job.run_id, job.workflow, job.reference_date, wait=True)
    except SQLAlchemyError:  # recorded: the swap is left to finish_staged once the store answers
        return Published.RECORDED, state
    if swapped is SwapResult.SWAPPED:
        run_log.info("run.published", folder=str(outbox / job.workflow / job.reference_date), files=len(files))
        return Published.PUBLISHED, state
    if swapped is SwapResult.ALREADY:  # a peer's recovery swapped it in while this daemon was paused
        run_log.info("run.published_by_peer", what="a peer daemon put this report in place (this one was paused)")
        return Published.PUBLISHED, state
    return Published.RECORDED, state


def finish_one(
    store: Store,
    outbox: Path,
    run_id: str,
    workflow: str | None,
    day: str | None,
    grace_s: float = 0.0,
    wait: bool = False,
) -> SwapResult | None:
    """Swap in (or discard) what is staged for ``run_id``, as the store says; None when left for later.

    ``wait``: the recording daemon waits for a peer that holds the run's row (it only looks)
    rather than leaving its own report to a recovery a lease later.
    """
    try:
        with publish_permit(store.engine, run_id, grace_s, wait) as (permit, row_workflow, row_day):
            workflow, day = row_workflow or workflow, row_day or day
            if permit is Permit.SWAP and workflow is not None and day is not None:
                return swap_in(outbox, workflow, day, run_id)
            if permit is Permit.DISCARD and discard_staged(outbox, workflow, day, run_id):
                log.warning("run.staged_report_discarded", run_id=run_id, workflow=workflow, reference_date=day)
            return None
    except OSError as error:  # the outbox refused (full, unmounted): the report stays staged, tried again later
        _say_swap_failed(outbox, run_id, workflow, day, error)
        return None


def _say_swap_failed(outbox: Path, run_id: str, workflow: str | None, day: str | None, error: OSError) -> None:
    """One line, once per run: which report waits, why, and what to do (it is retried at every lease round)."""
    if run_id in _TOLD_SWAP_FAILED:
        return
    _TOLD_SWAP_FAILED.add(run_id)
    where = f"outbox/{workflow}/{day}" if workflow and day else "the outbox"
    log.error(
        "run.publish_failed",
        run_id=run_id,
        workflow=workflow,
        reference_date=day,
        error=f"{where} could not be put in place ({error.strerror or error}): the report waits in "
        f"outbox/.pending/{run_id} and is published once that path is a folder the daemon can write"[:400],
    )


def finish_staged(store: Store, outbox: Path, grace_s: float) -> list[StagedReport]:
    """Finish every swap a crash interrupted and discard what lost attempts staged; return those published.

    ``grace_s``: how long after its success was recorded a report is left to the daemon that
    recorded it (the lease timeout; 0 when this daemon holds the instance lock: nobody else is).
    """
    published = []
    for staged in staged_reports(outbox):
        result = finish_one(store, outbox, staged.run_id, staged.workflow, staged.reference_date, grace_s)
        if result is SwapResult.SWAPPED:
            log.warning(
                "run.published_by_recovery",
                run_id=staged.run_id,
                workflow=staged.workflow,
                reference_date=staged.reference_date,
                what="its success was recorded earlier (its daemon stopped, or the outbox refused it then); "
                "the staged report is now in place",
            )
            published.append(staged)
    return published
