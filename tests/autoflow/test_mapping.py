"""The parameter mapping and ``datasets_match``, as the config loader, the planner and the executor see them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from notebooks import write_notebook

from autoflow_watch.config import ConfigError, load_config
from autoflow_watch.config.mapping import RUN_LEVEL_SOURCES
from autoflow_watch.config.model import DatasetsMatch
from autoflow_watch.executor.job import NotebookJob, RunJob
from autoflow_watch.executor.params import _run_level, notebook_parameters
from autoflow_watch.planner import eligible_dates

D = dt.date


def project(tmp_path: Path, workflow: str, flowapi: bool = True) -> Path:
    write_notebook(tmp_path / "nb" / "first.ipynb", 'date_ranges = []\nunit = ""\nurl = ""')
    write_notebook(tmp_path / "nb" / "second.ipynb", 'previous = ""\nday = ""\nunit = ""')
    section = '[flowapi]\nurl = "http://127.0.0.1:9"\ntoken_env = "T"\n' if flowapi else ""
    config = tmp_path / "c.toml"
    config.write_text(f'[paths]\nnotebooks = "nb"\nstate = "sqlite:///s.db"\n{section}\n{workflow}')
    return config


MAPPED = """
[[workflow]]
name = "w"
datasets = ["calls", "sms"]
datasets_match = "any"
parameters = { aggregation_unit = "admin2" }
  [[workflow.notebook]]
  name = "second"
  path = "second.ipynb"
  parameters = { previous = "first", day = "reference_date", unit = "aggregation_unit" }
  [[workflow.notebook]]
  name = "first"
  path = "first.ipynb"
  parameters = { date_ranges = "date_ranges", unit = "aggregation_unit", url = "flowapi_url" }
"""


def test_the_mapping_orders_the_dag_and_names_the_upstream(tmp_path: Path) -> None:
    workflow = load_config(project(tmp_path, MAPPED)).workflows["w"]
    assert [nb.name for nb in workflow.notebooks] == ["first", "second"]  # declared second-first; mapping wins
    assert workflow.notebook("second").upstream == ("first",)
    assert workflow.datasets_match is DatasetsMatch.ANY


def test_a_mapped_notebook_receives_exactly_the_mapped_parameters(tmp_path: Path) -> None:
    workflow = load_config(project(tmp_path, MAPPED)).workflows["w"]
    job = RunJob(
        workflow="w",
        reference_date="2016-01-05",
        run_id="w-1",
        attempt=1,
        started_at=0.0,
        date_ranges=[["2016-01-05", "2016-01-06"]],
        parameters={"aggregation_unit": "admin2"},
        notebooks=[],
        work_dir=str(tmp_path),
        kernel="python3",
        cell_timeout_s=1,
        run_timeout_s=1,
        kernel_start_timeout_s=1,
        flowapi_url="http://127.0.0.1:9",
    )

    def as_job(name: str) -> NotebookJob:
        nb = workflow.notebook(name)
        return NotebookJob(name, str(nb.path), list(nb.upstream), sorted(nb.declared), "", mapping=nb.mapping)

    executed = {"first": tmp_path / "first.ipynb"}
    assert notebook_parameters(job, as_job("first"), executed) == {
        "date_ranges": [["2016-01-05", "2016-01-06"]],
        "unit": "admin2",
        "url": "http://127.0.0.1:9",
    }
    assert notebook_parameters(job, as_job("second"), executed) == {
        "previous": str(tmp_path / "first.ipynb"),
        "day": "2016-01-05",
        "unit": "admin2",
    }
    assert set(_run_level(job)) == set(RUN_LEVEL_SOURCES)  # the names the config accepts are those the run offers


@pytest.mark.parametrize(
    ("change", "flowapi", "fragments"),
    [
        (
            ('unit = "aggregation_unit" }', 'unit = "aggregation_unit", nope = "run_id" }'),
            True,
            ["notebook[0].parameters.nope", "'second' does not declare parameter 'nope' (mapped from 'run_id')"],
        ),
        (
            ('day = "reference_date"', 'day = "tomorrow"'),
            True,
            ["parameters.day", "unknown source 'tomorrow'", "(aggregation_unit)", "it (second, first)"],
        ),
        (
            ('url = "flowapi_url"', 'url = "flowapi_url"'),
            False,
            ["notebook[1].parameters.url", "'flowapi_url' needs a [flowapi] section"],
        ),
        (('previous = "first"', 'previous = "second"'), True, ["'second' is this notebook itself"]),
        (('date_ranges = "date_ranges"', 'date_ranges = "second"'), True, ["cycle: second -> first -> second"]),
    ],
)
def test_a_bad_mapping_is_one_line_naming_both_sides(
    tmp_path: Path, change: tuple[str, str], flowapi: bool, fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(project(tmp_path, MAPPED.replace(*change), flowapi=flowapi))
    text = "\n".join(raised.value.problems)
    for fragment in fragments:
        assert fragment in text, text


def test_a_workflow_parameter_only_a_mapping_uses_is_accepted_and_an_unused_one_refused(tmp_path: Path) -> None:
    unused = MAPPED.replace('{ aggregation_unit = "admin2" }', '{ aggregation_unit = "admin2", spare = 1 }')
    with pytest.raises(ConfigError, match=r"parameters\.spare: no notebook of workflow 'w' declares 'spare'"):
        load_config(project(tmp_path, unused))


def test_datasets_match_any_is_the_union_all_the_intersection(tmp_path: Path) -> None:
    facts = {"calls": {D(2016, 1, 1), D(2016, 1, 2)}, "sms": {D(2016, 1, 3)}}
    any_of = load_config(project(tmp_path, MAPPED.replace("[[-1, 1]]", "[[-1, 1]]"))).workflows["w"]
    assert eligible_dates(any_of, facts) == [D(2016, 1, 1), D(2016, 1, 2), D(2016, 1, 3)]
    all_of = load_config(project(tmp_path, MAPPED.replace('datasets_match = "any"', ""))).workflows["w"]
    assert all_of.datasets_match is DatasetsMatch.ALL
    assert eligible_dates(all_of, facts) == []
    assert eligible_dates(all_of, {**facts, "sms": {D(2016, 1, 2)}}) == [D(2016, 1, 2)]


def test_any_with_a_stencil_takes_each_stencil_date_from_whichever_dataset_has_it(tmp_path: Path) -> None:
    """AutoFlow's rule: the union of the CDR types' dates is what the stencil is checked against."""
    stencilled = MAPPED.replace('datasets_match = "any"', 'datasets_match = "any"\ndate_stencil = [[-2, 1]]')
    workflow = load_config(project(tmp_path, stencilled)).workflows["w"]
    facts = {"calls": {D(2016, 1, 1), D(2016, 1, 3)}, "sms": {D(2016, 1, 2)}}
    assert eligible_dates(workflow, facts) == [D(2016, 1, 3)]


def test_datasets_match_rejects_other_words(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="datasets_match"):
        load_config(project(tmp_path, MAPPED.replace('"any"', '"some"')))
