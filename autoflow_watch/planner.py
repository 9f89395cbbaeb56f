"""Which (workflow, reference date) runs are due, derived from facts and run records alone.

The planner is level-triggered: it never looks at events, only at the current facts, so
planning twice, or after a missed event, gives the same answer. It is pure; the daemon
applies its decisions to the store.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from autoflow_watch.config.model import DatasetsMatch
from autoflow_watch.config.stencil import is_satisfiable, stencil_dates
from autoflow_watch.config.workflow import Workflow
from autoflow_watch.vocabulary import FactTimes, RunState


@dataclass(frozen=True)
class Plan:
    """New runs to create, and finished runs to re-run because their data was redelivered."""

    create: dict[str, list[dt.date]] = field(default_factory=dict)
    rerun: dict[str, list[dt.date]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.create.values()) and not any(self.rerun.values())


def available_dates(workflow: Workflow, facts: Mapping[str, set[dt.date]]) -> set[dt.date]:
    """Dates for which every dataset the workflow waits for has a fact (any one, with ``datasets_match = "any"``)."""
    sets = [facts.get(dataset, set()) for dataset in workflow.datasets]
    if not sets:
        return set()
    if workflow.datasets_match is DatasetsMatch.ANY:
        return set().union(*sets)
    return set.intersection(*sets)


def eligible_dates(
    workflow: Workflow, facts: Mapping[str, set[dt.date]], *, ignore_earliest: bool = False
) -> list[dt.date]:
    """Candidate reference dates whose whole stencil is available, oldest first."""
    available = available_dates(workflow, facts)
    eligible = []
    for candidate in sorted(available):
        if not ignore_earliest and workflow.earliest_date and candidate < workflow.earliest_date:
            continue
        if is_satisfiable(workflow.stencil, candidate) and stencil_dates(workflow.stencil, candidate) <= available:
            eligible.append(candidate)
    return eligible


def plan(
    workflows: Iterable[Workflow],
    facts: Mapping[str, set[dt.date]],
    runs: Mapping[tuple[str, dt.date], tuple[RunState, float | None]],
    fact_times: Mapping[tuple[str, dt.date], FactTimes] | None = None,
) -> Plan:
    """Decide what to create or re-run; existing runs are never duplicated."""
    result = Plan()
    for workflow in workflows:
        eligible = eligible_dates(workflow, facts)
        missing = [day for day in eligible if (workflow.name, day) not in runs]
        if missing:
            result.create[workflow.name] = missing
        if workflow.on_redelivery == "rerun" and fact_times:
            redelivered = _redelivered(workflow, eligible, runs, fact_times)
            if redelivered:
                result.rerun[workflow.name] = redelivered
    return result


def _redelivered(
    workflow: Workflow,
    eligible: list[dt.date],
    runs: Mapping[tuple[str, dt.date], tuple[RunState, float | None]],
    fact_times: Mapping[tuple[str, dt.date], FactTimes],
) -> list[dt.date]:
    """Finished runs whose input facts were delivered again after their attempt started."""
    due = []
    for day in eligible:
        record = runs.get((workflow.name, day))
        if record is None or record[0] not in (RunState.SUCCEEDED, RunState.DEAD) or record[1] is None:
            continue
        started = record[1]
        needed = stencil_dates(workflow.stencil, day)
        if any(
            (times := fact_times.get((dataset, needed_day))) is not None
            and times.updated_at > started
            and times.updated_at > times.first_seen_at
            for dataset in workflow.datasets
            for needed_day in needed
        ):
            due.append(day)
    return due
