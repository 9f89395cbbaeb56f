"""``import-autoflow``: AutoFlow's workflows.yml becomes a config that validates and means the same."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from autoflow_files import FLOWS_YML, MESSY_YML, write_flows_notebooks

from autoflow_watch.config import load_config
from autoflow_watch.config.model import DatasetsMatch

pytestmark = pytest.mark.process  # the CLI in a subprocess


def import_autoflow(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoflow_watch", "import-autoflow", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


@pytest.fixture
def autoflow_inputs(tmp_path: Path) -> Path:
    """An AUTOFLOW_INPUTS_DIR: the notebooks and workflows.yml side by side."""
    inputs = write_flows_notebooks(tmp_path / "inputs")
    (inputs / "workflows.yml").write_text(FLOWS_YML)
    return inputs


def test_autoflow_example_imports_cleanly_and_validates(autoflow_inputs: Path, tmp_path: Path) -> None:
    output = tmp_path / "deploy" / "autoflow-watch.toml"
    done = import_autoflow(str(autoflow_inputs / "workflows.yml"), "-o", str(output))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "not carried over:" not in done.stderr
    assert "2 workflow(s) (flows_above_normal, flows_above_normal-2)" in done.stderr
    config = load_config(output)  # passes validate as written
    assert sorted(config.workflows) == ["flows_above_normal", "flows_above_normal-2"]
    assert config.app.paths.notebooks == autoflow_inputs.resolve()
    assert config.app.paths.outbox == (output.parent / "var" / "outbox").resolve()
    assert config.app.flowapi is not None
    assert (config.app.flowapi.url, config.app.flowapi.token_env) == ("http://localhost:9090", "FLOWAPI_TOKEN")
    assert config.app.flowapi.schedule == "0 0 * * *"

    first, second = config.workflows["flows_above_normal"], config.workflows["flows_above_normal-2"]
    assert first.datasets == ("calls", "sms") and first.datasets_match is DatasetsMatch.ANY
    assert first.stencil == [(dt.date(2016, 1, 1), dt.date(2016, 1, 2)), -1, 0]
    assert first.earliest_date == dt.date(2016, 1, 4) and second.earliest_date == dt.date(2016, 1, 6)
    assert first.parameters == {"aggregation_unit": "admin2"} and second.parameters == {"aggregation_unit": "admin3"}
    assert first.flowapi_token and second.flowapi_token
    report = first.notebook("flows_report")
    assert [nb.name for nb in first.notebooks] == ["run_flows", "flows_report"]
    assert report.upstream == ("run_flows",)  # derived from previous_notebook: run_flows
    assert report.mapping == {
        "flowapi_url": "flowapi_url",
        "aggregation_unit": "aggregation_unit",
        "reference_date": "reference_date",
        "previous_notebook": "run_flows",
    }
    assert report.report is not None and report.report.formats == ["pdf"]
    assert first.notebook("run_flows").report is None


def test_without_output_the_config_goes_to_stdout_relative_to_the_current_folder(
    autoflow_inputs: Path, tmp_path: Path
) -> None:
    done = import_autoflow(str(autoflow_inputs / "workflows.yml"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'notebooks = "inputs"' in done.stdout
    assert "CHECK: FLOWAPI_URL" in done.stdout
    assert not list(tmp_path.glob(".import-autoflow-*"))  # the file validated on the way is gone
    (tmp_path / "from-stdout.toml").write_text(done.stdout)
    assert sorted(load_config(tmp_path / "from-stdout.toml").workflows) == [
        "flows_above_normal",
        "flows_above_normal-2",
    ]


def test_what_cannot_carry_over_is_named_once_each_and_the_rest_is_written(tmp_path: Path) -> None:
    notebooks = write_flows_notebooks(tmp_path / "notebooks")
    yml = tmp_path / "autoflow" / "workflows.yml"
    yml.parent.mkdir()
    yml.write_text(MESSY_YML)
    output = tmp_path / "imported.toml"
    done = import_autoflow(str(yml), "--notebooks", str(notebooks), "-o", str(output))

    assert done.returncode == 2
    lost = [line for line in done.stderr.splitlines() if line.startswith("not carried over:")]
    expected = [
        "workflows[0].notebooks.flows_report.output.template: asciidoc template 'custom_asciidoc.tpl'",
        "workflows[1].notebooks.lonely.filename: required key is missing",
        "workflows[1]: workflow 'broken' is not imported",
        "available_dates_sensor.retries: unknown key",
        "available_dates_sensor.workflows[2].parameters: workflow 'flows_above_normal' needs aggregation_unit",
        "available_dates_sensor.workflows[3].workflow_name: no imported workflow is named 'broken'",
    ]
    for fragment in expected:
        assert sum(fragment in line for line in lost) == 1, (fragment, lost)
    assert len(lost) == len(expected), lost
    assert "never_listed" in done.stderr and "AutoFlow never ran it" in done.stderr

    config = load_config(output)  # the rest is written, and validates
    assert sorted(config.workflows) == ["flows_above_normal", "flows_above_normal-2"]
    second = config.workflows["flows_above_normal-2"]
    assert second.stencil == [(dt.date(2016, 1, 1), dt.date(2016, 1, 3)), (-7, -1), 0]
    assert second.earliest_date == dt.date(2016, 2, 1)
    assert second.datasets == ("calls", "sms", "mds", "topups")  # no cdr_types: AutoFlow used every type
    assert config.app.flowapi is not None and config.app.flowapi.schedule == "30 6 * * 1-5"


def test_a_missing_notebook_file_writes_the_config_and_says_it_does_not_validate_yet(tmp_path: Path) -> None:
    yml = tmp_path / "workflows.yml"
    yml.write_text(FLOWS_YML)  # no notebooks beside it
    output = tmp_path / "out.toml"
    done = import_autoflow(str(yml), "-o", str(output))
    assert done.returncode == 2
    assert "does not validate yet:" in done.stderr and "run_flows.ipynb does not exist" in done.stderr
    assert output.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workflows: [\n", "not valid YAML"),
        ("- just a list\n", "expected a mapping"),
        ("available_dates_sensor: {schedule: null, workflows: []}\n", "workflows: expected a list"),
    ],
)
def test_a_file_that_is_not_autoflow_s_is_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    yml = tmp_path / "workflows.yml"
    yml.write_text(text)
    done = import_autoflow(str(yml), "-o", str(tmp_path / "out.toml"))
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.toml").exists()


def test_a_null_schedule_is_named_and_the_default_polling_kept(autoflow_inputs: Path, tmp_path: Path) -> None:
    yml = autoflow_inputs / "workflows.yml"
    yml.write_text(FLOWS_YML.replace('schedule: "0 0 * * *"', "schedule: null"))
    done = import_autoflow(str(yml), "-o", str(tmp_path / "out.toml"))
    assert done.returncode == 2
    assert "available_dates_sensor.schedule: null" in done.stderr and "run --once" in done.stderr
    config = load_config(tmp_path / "out.toml")
    assert config.app.flowapi is not None and config.app.flowapi.schedule is None


def test_parameter_values_reach_toml_as_autoflow_passed_them(autoflow_inputs: Path, tmp_path: Path) -> None:
    """YAML dates became ISO strings in AutoFlow's JSON round trip; odd keys and strings survive quoting."""
    yml = autoflow_inputs / "workflows.yml"
    text = FLOWS_YML.replace("aggregation_unit: admin2", 'aggregation_unit: {"unit \\"x\\"": [2016-01-01, 1.5, true]}')
    yml.write_text(text)
    done = import_autoflow(str(yml), "-o", str(tmp_path / "out.toml"))
    assert done.returncode == 0, done.stderr
    workflow = load_config(tmp_path / "out.toml").workflows["flows_above_normal"]
    assert workflow.parameters == {"aggregation_unit": {'unit "x"': ["2016-01-01", 1.5, True]}}
