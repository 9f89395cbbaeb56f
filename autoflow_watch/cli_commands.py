"""The store-facing commands: status, rerun, backfill, db upgrade."""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

from autoflow_watch.config import Config
from autoflow_watch.config.model import DatasetsMatch
from autoflow_watch.config.workflow import Workflow
from autoflow_watch.planner import eligible_dates
from autoflow_watch.sources.flowapi.schedule import next_scheduled_check
from autoflow_watch.store import RunStatus, Store
from autoflow_watch.store.migrate import scripts
from autoflow_watch.vocabulary import Requeue, RunState, iso


def status(config: Config, workflow: str | None, *, as_json: bool) -> int:
    store = Store(config.state_url, config.app.paths.state_password_file)
    try:
        runs = store.runs.status(workflow)
    finally:
        store.close()
    if as_json:
        json.dump([run.as_json() for run in runs], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    flowapi = config.app.flowapi
    next_check = next_scheduled_check(flowapi) if flowapi is not None else None
    if flowapi is not None and next_check is not None:
        sys.stdout.write(f"FlowAPI is checked on schedule {flowapi.schedule!r}: next check {next_check}\n")
    if not runs:
        sys.stdout.write("no runs yet: drop markers into the inbox, or check `autoflow-watch validate`\n")
        return 0
    for run in runs:
        sys.stdout.write(_describe(run) + "\n")
    return 0


def _describe(run: RunStatus) -> str:
    took = ""
    if run.started_at and run.finished_at:
        took = f" in {run.finished_at - run.started_at:.1f}s"
    line = (
        f"{run.workflow}  {run.reference_date}  {run.state.value:<9}  attempt {run.attempts}/{run.max_attempts}"
        f"{took}  {run.run_id or '-'}"
    )
    if run.holder:
        line += f"  held by {run.holder}"
    if run.reused:
        line += f"  reused {run.reused} notebook{'s' if run.reused != 1 else ''}"
    extra = []
    if run.next_attempt_at and run.state is RunState.FAILED:
        wait = run.next_attempt_at - time.time()
        when = f"in {wait:.0f}s" if wait >= 1 else "due now"
        extra.append(f"    next retry {iso(run.next_attempt_at)} ({when})")
    if run.error:
        extra.append(f"    error: {run.error}")
    for step in run.steps:
        duration = f"{step.duration_s:.1f}s" if step.duration_s is not None else "-"
        extra.append(
            f"    {step.notebook:<24} {step.state.value:<9} {duration}" + (f"  {step.error}" if step.error else "")
        )
    return "\n".join([line, *extra])


def rerun(config: Config, workflow: str, dates: list[dt.date], *, fresh: bool = False) -> int:
    wf = config.workflows[workflow]
    store = Store(config.state_url, config.app.paths.state_password_file)
    try:
        eligible = set(eligible_dates(wf, store.facts.dates_by_dataset(), ignore_earliest=True))
        outcome = store.runs.requeue(workflow, dates, fresh=fresh)
        missing = [d for d, what in outcome.items() if what is Requeue.MISSING]
        created = store.runs.ensure(workflow, [d for d in missing if d in eligible], wf.max_attempts)
    finally:
        store.close()
    code = 0
    for day in dates:
        what = outcome[day].value
        if outcome[day] is Requeue.MISSING:
            if day in created:
                what = "queued (new run)"
            else:
                what = f"not queued: no data for its stencil yet (needs {_needs(wf)})"
                code = 2  # nothing failed: the request cannot be met (DESIGN's "usage error")
        elif outcome[day] is Requeue.AFTER_CURRENT_ATTEMPT:
            what = "running now; queued again when this attempt ends"
        sys.stdout.write(f"{workflow} {day}: {what}\n")
    return code


def backfill(config: Config, workflow: str, start: dt.date, end: dt.date, *, fresh: bool = False) -> int:
    wf = config.workflows[workflow]
    store = Store(config.state_url, config.app.paths.state_password_file)
    try:
        eligible = [
            d for d in eligible_dates(wf, store.facts.dates_by_dataset(), ignore_earliest=True) if start <= d <= end
        ]
        created = store.runs.ensure(workflow, eligible, wf.max_attempts)
        requeued = store.runs.requeue(
            workflow, [d for d in eligible if d not in created], states=(RunState.FAILED, RunState.DEAD), fresh=fresh
        )
    finally:
        store.close()
    again = [d for d, what in requeued.items() if what is Requeue.QUEUED]
    skipped = len(eligible) - len(created) - len(again)
    sys.stdout.write(
        f"{workflow}: {len(eligible)} eligible date(s) from {start} to {end}: {len(created)} queued, "
        f"{len(again)} failed/dead re-queued, {skipped} already done or running (use rerun to force)\n"
    )
    if not eligible:
        sys.stdout.write(f"no date in that range has {_needs(wf)} for its stencil\n")
    return 0


def _needs(wf: Workflow) -> str:
    which = "any of" if wf.datasets_match is DatasetsMatch.ANY else "all of"
    return f"{which} {', '.join(wf.datasets)}"


def db_upgrade(config: Config) -> int:
    """Migrate the store (opening it does, under the migration lock) and say what was applied."""
    store = Store(config.state_url, config.app.paths.state_password_file)
    upgrade = store.upgrade
    where = store.engine.url.render_as_string(hide_password=True)
    store.close()
    if not upgrade.applied:
        sys.stdout.write(f"state store {where} is at revision {upgrade.after}: nothing to do\n")
        return 0
    known = scripts()
    for revision in upgrade.applied:
        summary = (known.get_revision(revision).doc or "").strip().splitlines()
        sys.stdout.write(f"applied {revision}" + (f": {summary[0]}" if summary else "") + "\n")
    sys.stdout.write(f"state store {where} is now at revision {upgrade.after}\n")
    return 0
