"""Keep the outbox's pages (overview, histories, feeds, index.json) in step with the run records."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from pathlib import Path

from autoflow_watch.config import Config
from autoflow_watch.logs import get_logger
from autoflow_watch.publish.outbox import apply_retention
from autoflow_watch.publish.portal import refresh_pages
from autoflow_watch.publish.staging import FAILED
from autoflow_watch.store import Store

log = get_logger("autoflow_watch.index")


def refresh_index(config: Config, store: Store, changed: Iterable[str] | None = None) -> None:
    """Rebuild the ``changed`` workflows' pages (None: all of them) and the overview.

    A failure is logged, never fatal: the pages are a convenience, the reports are what counts.
    Another daemon sharing the outbox may write the same pages meanwhile; each rebuild reads the
    records again after writing and rebuilds while they moved (see :mod:`autoflow_watch.publish.portal`).
    """
    try:
        refresh_pages(config.app.paths.outbox, store.runs.portal, config.workflows, changed)
    except Exception as error:
        log.warning("outbox.index_failed", error=str(error))


def workflows_of(outbox: Path, removed: Iterable[Path]) -> set[str]:
    """The workflows whose folders retention removed something from (their pages change)."""
    names = set()
    for path in removed:
        try:
            parts = path.relative_to(outbox).parts
        except ValueError:
            continue
        if len(parts) > 1 and parts[0] == FAILED:
            names.add(parts[1])
        elif parts:
            names.add(parts[0])
    return names


def retain(config: Config, store: Store) -> None:
    """``[outbox] keep_days``: remove old reports and failed attempts, then rebuild the pages they were on."""
    keep = config.app.outbox.keep_days
    if keep:
        outbox = config.app.paths.outbox
        removed = apply_retention(outbox, keep, dt.date.today())
        if removed:
            log.info("outbox.retention", removed=[str(p) for p in removed])
            forget_kept(config, store, outbox, removed)
            refresh_index(config, store, workflows_of(outbox, removed))


def forget_kept(config: Config, store: Store, outbox: Path, removed: Iterable[Path]) -> None:
    """A run's report removed by retention: its kept executions (docs/reuse.md) and work folders go too."""
    for path in removed:
        try:
            parts = path.relative_to(outbox).parts
        except ValueError:
            continue
        if len(parts) != 2 or parts[0] == FAILED:
            continue  # a failed attempt's folder: the run's report, if any, stays
        workflow, day = parts
        try:
            store.runs.executions.forget(workflow, day)
        except Exception as error:  # tried again with the next report retention removes; rows alone harm nothing
            log.warning("reuse.forget_failed", workflow=workflow, reference_date=day, error=str(error))
        shutil.rmtree(config.app.paths.work / workflow / day, ignore_errors=True)
