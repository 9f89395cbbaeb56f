"""What a FlowAPI poll turns into: facts, and (through the planner) due runs.

These port FlowKit AutoFlow's available-dates sensor behaviours, adapted to the contract:
each CDR type is its own dataset and a workflow lists the datasets it needs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from fake_flowapi import FakeFlowApi
from flowapi_helpers import Captured, LoadWorkflows, MakeConfig

from autoflow_watch.planner import plan
from autoflow_watch.sources.flowapi.answer import facts_from_answer
from autoflow_watch.sources.flowapi.source import FlowApiSource
from autoflow_watch.store import Fact, FactChange, RunState, Store

D = dt.date


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


def workflow_toml(name: str, datasets: list[str], extra: str = "") -> str:
    """One ``[[workflow]]`` table running the tiny ``notebook.ipynb``."""
    return (
        f'[[workflow]]\nname = "{name}"\ndatasets = {datasets!r}\n{extra}'
        '[[workflow.notebook]]\nname = "a"\npath = "notebook.ipynb"\n'
    ).replace("'", '"')


def planned(workflows: dict, store: Store, runs: dict | None = None) -> dict[str, list[dt.date]]:
    return plan(workflows.values(), store.facts.dates_by_dataset(), runs or {}).create


def test_every_type_the_server_lists_becomes_a_dataset(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, store: Store
) -> None:
    fake_flowapi.dates = {
        "calls": ["2026-11-23", "2026-11-24"],
        "sms": ["2026-11-24"],
        "mds": [],
        "topups": ["2026-11-20"],
        "location_updates": ["2026-11-24"],
    }
    source = FlowApiSource(make_config(), store.facts.record_batch)

    outcome = source.poll_once()

    assert outcome.ok and outcome.failure is None
    assert outcome.datasets == ("calls", "location_updates", "mds", "sms", "topups")
    assert outcome.facts == outcome.new_facts == 5
    assert store.facts.dates_by_dataset() == {
        "calls": {D(2026, 11, 23), D(2026, 11, 24)},
        "sms": {D(2026, 11, 24)},
        "topups": {D(2026, 11, 20)},
        "location_updates": {D(2026, 11, 24)},
    }
    fact, _ = store.facts.get("calls", D(2026, 11, 24))
    assert fact.source == "flowapi"


def test_union_over_types_each_workflow_chooses_its_datasets(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, store: Store, load_workflows: LoadWorkflows
) -> None:
    """AutoFlow took the union of the chosen types' dates; here every type is recorded and
    each workflow picks: one dataset gets that type's dates, two need both (DESIGN.md)."""
    fake_flowapi.dates = {"calls": ["2026-11-01", "2026-11-02"], "sms": ["2026-11-02", "2026-11-03"]}
    workflows = load_workflows(
        workflow_toml("calls-only", ["calls"])
        + workflow_toml("sms-only", ["sms"])
        + workflow_toml("both", ["calls", "sms"])
    )
    FlowApiSource(make_config(), store.facts.record_batch).poll_once()

    assert planned(workflows, store) == {
        "calls-only": [D(2026, 11, 1), D(2026, 11, 2)],
        "sms-only": [D(2026, 11, 2), D(2026, 11, 3)],
        "both": [D(2026, 11, 2)],
    }


def test_dataset_a_workflow_waits_for_but_server_does_not_list_warns_once(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, store: Store, captured: Captured
) -> None:
    wanted = {"daily": ["calls", "mds"], "weekly": ["mds"]}
    source = FlowApiSource(make_config(), store.facts.record_batch, wanted=wanted)

    source.poll_once()
    source.poll_once()

    said = [(w["dataset"], w["workflows"], w["log_level"]) for w in captured.named("flowapi.dataset.not_listed")]
    assert said == [("mds", ["daily", "weekly"], "warning")]
    fake_flowapi.dates["mds"] = ["2026-11-24"]
    source.poll_once()
    del fake_flowapi.dates["mds"]
    source.poll_once()  # it went away again: that is a change, so it is said again
    assert len(captured.named("flowapi.dataset.not_listed")) == 2
    source.set_wanted({"daily": ["calls", "mds"]})  # a config reload says it once more
    source.poll_once()
    assert [w["workflows"] for w in captured.named("flowapi.dataset.not_listed")][-1] == ["daily"]
    assert len(captured.named("flowapi.dataset.not_listed")) == 3


def test_earliest_date_and_stencil_filter_reference_dates(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, store: Store, load_workflows: LoadWorkflows
) -> None:
    fake_flowapi.dates = {"calls": ["2026-10-30", "2026-10-31", "2026-11-01", "2026-11-02", "2026-11-03", "2026-11-05"]}
    workflows = load_workflows(
        workflow_toml("three-days", ["calls"], "date_stencil = [[-2, 1]]\nearliest_date = 2026-11-01\n")
    )
    FlowApiSource(make_config(), store.facts.record_batch).poll_once()

    # 11-01 needs 10-30..11-01 (all there), 11-02 and 11-03 likewise; 11-05 lacks 11-04;
    # 10-31 and earlier are before earliest_date.
    assert planned(workflows, store) == {"three-days": [D(2026, 11, 1), D(2026, 11, 2), D(2026, 11, 3)]}


def test_second_poll_plans_only_the_new_date(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, store: Store, load_workflows: LoadWorkflows
) -> None:
    workflows = load_workflows(workflow_toml("daily", ["calls"]))
    fake_flowapi.dates = {"calls": ["2026-11-23"]}
    prompts: list[int] = []
    source = FlowApiSource(make_config(), store.facts.record_batch, on_new_facts=lambda: prompts.append(1))

    first = source.poll_once()
    runs = {("daily", day): (RunState.PENDING, None) for day in planned(workflows, store)["daily"]}
    fake_flowapi.dates = {"calls": ["2026-11-23", "2026-11-24"]}
    second = source.poll_once()
    third = source.poll_once()

    assert (first.new_facts, second.new_facts, third.new_facts) == (1, 1, 0)
    assert planned(workflows, store, runs) == {"daily": [D(2026, 11, 24)]}
    assert len(prompts) == 2  # once per poll that brought something new


def test_fact_from_inbox_and_flowapi_for_same_day_is_one_fact(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, store: Store
) -> None:
    store.facts.record(Fact("calls", D(2026, 11, 24), "inbox", {"rows": 10}))
    fake_flowapi.dates = {"calls": ["2026-11-24"]}
    source = FlowApiSource(make_config(), store.facts.record_batch)

    outcome = source.poll_once()

    assert outcome.facts == 1 and outcome.new_facts == 0
    assert store.facts.count() == 1
    fact, deliveries = store.facts.get("calls", D(2026, 11, 24))
    assert (fact.source, fact.metadata, deliveries) == ("inbox", {"rows": 10}, 1)
    # ...and the other way round: the inbox confirming a FlowAPI fact does not make a second one
    assert store.facts.record(Fact("calls", D(2026, 11, 23), "flowapi")) is FactChange.NEW
    assert store.facts.record(Fact("calls", D(2026, 11, 23), "inbox")) is FactChange.CONFIRMED
    assert store.facts.count() == 2


def test_record_callback_returning_nothing_still_counts_new_facts(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig
) -> None:
    recorded: list[list[Fact]] = []
    source = FlowApiSource(make_config(), recorded.append)

    assert source.poll_once().new_facts == 3
    assert source.poll_once().new_facts == 0
    assert [len(batch) for batch in recorded] == [3, 3]  # every poll records everything: level-triggered


def test_invalid_dates_and_dataset_names_are_skipped_with_one_warning_each(
    fake_flowapi: FakeFlowApi, make_config: MakeConfig, store: Store, captured: Captured
) -> None:
    fake_flowapi.dates = {
        "calls": ["2026-11-24", "2026-02-30", "24/11/2026", "20261124", 20261124, None, "2026-11-24T00:00:00"],
        "../etc": ["2026-11-24"],
        "Calls": ["2026-11-24"],
        "x" * 65: ["2026-11-24"],
        "sms": "2026-11-24",
    }
    source = FlowApiSource(make_config(), store.facts.record_batch)

    outcome = source.poll_once()
    source.poll_once()  # the same oddities again: not warned twice

    assert outcome.ok and outcome.facts == 1 and outcome.skipped == 10
    assert store.facts.dates_by_dataset() == {"calls": {D(2026, 11, 24)}}
    dates = captured.named("flowapi.date.skipped")
    names = captured.named("flowapi.dataset.skipped")
    assert sorted(d["value"] for d in dates) == sorted(
        ["'2026-02-30'", "'24/11/2026'", "'20261124'", "20261124", "None", "'2026-11-24T00:00:00'"]
    )
    assert {n["dataset"] for n in names} == {"'../etc'", "'Calls'", repr("x" * 65), "sms"}
    assert all(e["log_level"] == "warning" for e in dates + names)


def test_an_answer_that_is_not_an_object_is_a_bad_response(fake_flowapi: FakeFlowApi, make_config: MakeConfig) -> None:
    source = FlowApiSource(make_config(), lambda facts: None)
    for body in ('{"available_dates": ["calls"]}', '{"available_dates": null}', '{"dates": {}}', "[1, 2]", '"x"'):
        fake_flowapi.set_raw(200, body)
        outcome = source.poll_once()
        assert (outcome.ok, outcome.failure) == (False, "bad_response"), body


def test_facts_from_answer_is_strict_about_dates() -> None:
    answer = facts_from_answer({"calls": ["2024-02-29", "2023-02-29", " 2024-03-01", "2024-3-01", "2024-03-01"]})
    assert [f.day for f in answer.facts] == [D(2024, 2, 29), D(2024, 3, 1)]
    assert len(answer.skipped) == 3
