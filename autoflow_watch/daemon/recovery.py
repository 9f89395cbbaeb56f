"""Recovery of attempts whose daemon is gone: exactly once, even across a crash mid-publish.

An attempt whose report was already published (the outbox manifest carries its run_id)
is recorded as succeeded rather than run again; any other is counted and made pending.
Kernels it left behind on this host are killed by recorded pid, never by name.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path

from autoflow_watch import processes
from autoflow_watch.logs import get_logger
from autoflow_watch.publish.outbox import read_manifest
from autoflow_watch.store import Store
from autoflow_watch.vocabulary import AttemptOutcome, AttemptResult, Claim, RunState

log = get_logger("autoflow_watch.recovery")


def recover_expired(
    store: Store,
    outbox: Path,
    retry_backoff: Mapping[str, timedelta],
    *,
    all_running: bool,
    own_runs: set[str] | None = None,
    on_finished: Callable[[Claim, RunState], None] | None = None,
) -> list[Claim]:
    """Reclaim runs whose lease expired (or, when we hold the instance lock, every running run)."""
    recovered = []
    for claim in store.runs.expired(all_running=all_running):
        if own_runs and claim.run_id in own_runs:
            continue
        _kill_leftover_kernels(store, claim)
        manifest = read_manifest(outbox, claim.workflow, claim.reference_date.isoformat())
        if manifest is not None and manifest.get("run_id") == claim.run_id:
            result = AttemptResult(AttemptOutcome.SUCCEEDED)
            what = "published before its daemon stopped; recorded as succeeded"
        else:
            error_type, what = (
                ("DaemonGone", "its daemon is gone (this one holds the instance lock)")
                if all_running
                else ("LeaseExpired", "lease expired")
            )
            result = AttemptResult(
                AttemptOutcome.EXPIRED,
                error_type,
                "the daemon running this attempt stopped before it finished; the attempt counts",
            )
        state = store.runs.finish_if_current(claim, result, retry_backoff.get(claim.workflow, timedelta(0)))
        if state is None:  # another daemon on the store recovered it first: nothing of ours to say
            log.debug("run.recovered_elsewhere", workflow=claim.workflow, run_id=claim.run_id)
            continue
        if result.outcome is AttemptOutcome.EXPIRED:
            what += "; that was its last attempt" if state is RunState.DEAD else "; run is pending again"
        log.warning(
            "run.recovered",
            workflow=claim.workflow,
            reference_date=claim.reference_date.isoformat(),
            run_id=claim.run_id,
            state=state.value,
            what=what,
        )
        recovered.append(claim)
        if on_finished is not None:
            on_finished(claim, state)
    return recovered


def _kill_leftover_kernels(store: Store, claim: Claim) -> None:
    attempt = store.runs.attempt(claim.run_id)
    if attempt is None or attempt.host != socket.gethostname():
        return
    pids = [pid for pid in attempt.kernel_pids if _looks_like_kernel(pid)]
    if pids:
        processes.kill_groups(pids)
        processes.wait_gone(pids, timeout=5)
        log.warning("run.orphan_kernels_killed", run_id=claim.run_id, pids=pids)
    # a kernel killed with its daemon leaves what its notebook started in its process group
    left = [pid for pgid in attempt.kernel_pids for pid in processes.group_members(pgid)]
    left = [pid for pid in left if processes.started_by_a_kernel(pid)]
    if left:
        processes.kill_groups(left)
        processes.wait_gone(left, timeout=5)
        log.warning("run.orphan_processes_killed", run_id=claim.run_id, pids=left)


def _looks_like_kernel(pid: int) -> bool:
    """Guard against pid reuse: only a live process whose command line is a Jupyter kernel."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ")
    except OSError:
        return False
    return b"kernel" in cmdline and processes.alive(pid)
