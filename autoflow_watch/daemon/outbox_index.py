"""Keep ``outbox/index.html`` in step with the run records."""

from __future__ import annotations

import datetime as dt

from autoflow_watch.config import Config
from autoflow_watch.logs import get_logger
from autoflow_watch.publish.index import IndexEntry, write_index
from autoflow_watch.publish.outbox import apply_retention
from autoflow_watch.store import Store

log = get_logger("autoflow_watch.index")


REBUILDS = 3


def refresh_index(config: Config, store: Store) -> None:
    """Rewrite the index from the store; a failure is logged, never fatal (it is a convenience).

    Another daemon sharing the outbox may record a run and write the index while this one
    writes an older view: the records are read again after writing, and the index rebuilt
    while they changed, so the last index written shows every daemon's runs.
    """
    try:
        entries = _entries(store)
        for _ in range(REBUILDS):
            write_index(config.app.paths.outbox, entries)
            now = _entries(store)
            if now == entries:
                break
            entries = now
    except Exception as error:
        log.warning("outbox.index_failed", error=str(error))


def retain(config: Config, store: Store) -> None:
    """``[outbox] keep_days``: remove old reports and failed attempts, then rewrite the index if any went."""
    keep = config.app.outbox.keep_days
    if keep:
        removed = apply_retention(config.app.paths.outbox, keep, dt.date.today())
        if removed:
            log.info("outbox.retention", removed=[str(p) for p in removed])
            refresh_index(config, store)


def _entries(store: Store) -> list[IndexEntry]:
    return [
        IndexEntry(
            workflow=run.workflow,
            reference_date=run.reference_date.isoformat(),
            state=run.state.value,
            run_id=run.run_id,
            attempts=run.attempts,
            finished_at=run.finished_at,
            error=run.error,
        )
        for run in store.runs.status()
    ]
