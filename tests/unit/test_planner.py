import datetime as dt
from datetime import timedelta

from autoflow_watch.config.stencil import parse_stencil
from autoflow_watch.config.workflow import Workflow
from autoflow_watch.planner import eligible_dates, plan
from autoflow_watch.vocabulary import FactTimes, RunState

D = dt.date


def workflow(name="wf", datasets=("calls",), stencil=(0,), earliest=None, on_redelivery="ignore"):
    return Workflow(
        name=name,
        datasets=tuple(datasets),
        stencil=parse_stencil(list(stencil)),
        earliest_date=earliest,
        parameters={},
        notebooks=(),
        kernel="python3",
        cell_timeout=timedelta(minutes=1),
        run_timeout=timedelta(hours=1),
        max_attempts=3,
        retry_backoff=timedelta(minutes=1),
        flowapi_token=False,
        on_redelivery=on_redelivery,
    )


def days(*numbers):
    return {D(2026, 11, n) for n in numbers}


def test_three_day_stencil_and_three_markers_gives_one_run_for_the_last_day():
    wf = workflow(stencil=[[-2, 1]])
    assert eligible_dates(wf, {"calls": days(1, 2, 3)}) == [D(2026, 11, 3)]


def test_a_date_is_available_only_when_every_dataset_has_it():
    wf = workflow(datasets=("calls", "sms"))
    assert eligible_dates(wf, {"calls": days(1, 2, 3), "sms": days(2, 3, 4)}) == [D(2026, 11, 2), D(2026, 11, 3)]


def test_earliest_date_filters_candidates():
    wf = workflow(earliest=D(2026, 11, 3))
    assert eligible_dates(wf, {"calls": days(1, 2, 3, 4)}) == [D(2026, 11, 3), D(2026, 11, 4)]
    assert eligible_dates(wf, {"calls": days(1, 2, 3, 4)}, ignore_earliest=True)[0] == D(2026, 11, 1)


def test_gap_in_data_blocks_only_the_dates_whose_stencil_needs_it():
    wf = workflow(stencil=[-1, 0])
    assert eligible_dates(wf, {"calls": days(1, 2, 4, 5)}) == [D(2026, 11, 2), D(2026, 11, 5)]


def test_planning_creates_only_missing_runs_and_is_idempotent():
    wf = workflow()
    facts = {"calls": days(1, 2)}
    first = plan([wf], facts, {})
    assert first.create == {"wf": [D(2026, 11, 1), D(2026, 11, 2)]}
    runs = {("wf", d): (RunState.SUCCEEDED, 100.0) for d in days(1, 2)}
    assert plan([wf], facts, runs).empty


def test_a_dead_or_failed_run_is_not_recreated_by_planning():
    wf = workflow()
    runs = {("wf", D(2026, 11, 1)): (RunState.DEAD, 100.0), ("wf", D(2026, 11, 2)): (RunState.FAILED, 100.0)}
    assert plan([wf], {"calls": days(1, 2)}, runs).empty


def test_redelivered_fact_reruns_only_workflows_that_ask_for_it():
    facts = {"calls": days(1)}
    runs = {(name, D(2026, 11, 1)): (RunState.SUCCEEDED, 100.0) for name in ("quiet", "eager")}
    times = {("calls", D(2026, 11, 1)): FactTimes(first_seen_at=50.0, updated_at=200.0)}
    decision = plan([workflow("quiet"), workflow("eager", on_redelivery="rerun")], facts, runs, times)
    assert decision.rerun == {"eager": [D(2026, 11, 1)]}
    assert not decision.create


def test_first_delivery_after_run_start_is_not_a_redelivery():
    runs = {("eager", D(2026, 11, 1)): (RunState.SUCCEEDED, 100.0)}
    times = {("calls", D(2026, 11, 1)): FactTimes(first_seen_at=150.0, updated_at=150.0)}
    assert plan([workflow("eager", on_redelivery="rerun")], {"calls": days(1)}, runs, times).empty
