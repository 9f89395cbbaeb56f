from datetime import timedelta
from pathlib import Path

import pytest
from notebooks import write_notebook
from project_files import write_config

from autoflow_watch.config import ConfigError, load_config
from autoflow_watch.config.durations import parse_duration


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def only_problem(path: Path) -> str:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: "), "every error names the file first"
    return problems[0]


def test_example_style_config_loads_with_paths_relative_to_the_config_file(project):
    config = load_config(project / "autoflow.toml")
    assert config.app.paths.inbox == project / "var" / "inbox"
    assert config.state_url == f"sqlite:///{project}/var/state/autoflow.db"
    workflow = config.workflows["daily"]
    assert [nb.name for nb in workflow.notebooks] == ["aggregate", "report"]
    assert workflow.notebook("report").declared == {"reference_date", "aggregate", "run_id"}
    assert workflow.cell_timeout == timedelta(seconds=60)


def test_workflow_overrides_execution_defaults(project):
    write_config(project, workflow_extra='cell_timeout = "5s"\nmax_attempts = 7\nkernel = "python3"')
    workflow = load_config(project / "autoflow.toml").workflows["daily"]
    assert (workflow.cell_timeout, workflow.max_attempts) == (timedelta(seconds=5), 7)


def test_a_kernel_that_is_not_installed_is_an_error_naming_the_installed_ones(project):
    write_config(project, workflow_extra='kernel = "julia-9.9"')
    problem = only_problem(project / "autoflow.toml")
    assert "workflow[0].kernel: no Jupyter kernel named 'julia-9.9' is installed" in problem
    assert "python3" in problem, "it says which kernels there are"


def test_a_choice_not_on_the_list_names_what_was_written(project):
    path = project / "autoflow.toml"
    path.write_text(path.read_text().replace("[execution]\n", '[execution]\nkernel_start = "vfork"\n', 1))
    problem = only_problem(path)
    assert "execution.kernel_start: Input should be 'fork' or 'spawn', got 'vfork'" in problem


def test_unknown_key_is_an_error_naming_its_key_path(project):
    write_config(project, extra="colour = 'blue'")
    assert "inbox.colour: unknown key" in only_problem(project / "autoflow.toml")


def test_wrong_type_is_an_error_naming_its_key_path(project):
    write_config(project, workflow_extra="max_attempts = 'many'")
    assert "workflow[0].max_attempts:" in only_problem(project / "autoflow.toml")


def test_bad_duration_says_what_a_duration_looks_like(project):
    path = project / "autoflow.toml"
    path.write_text(path.read_text().replace('settle = "0.3s"', 'settle = "soon"'))
    problem = only_problem(path)
    assert "inbox.settle:" in problem and "'30s'" in problem


def test_missing_notebook_file_is_an_error(project):
    (project / "notebooks" / "report.ipynb").unlink()
    problem = only_problem(project / "autoflow.toml")
    assert "workflow[0].notebook[1].path:" in problem and "does not exist" in problem


def test_notebook_path_outside_the_notebooks_folder_is_refused(project):
    write_notebook(project / "elsewhere.ipynb", "x = 1")
    text = (project / "autoflow.toml").read_text().replace('path = "report.ipynb"', 'path = "../elsewhere.ipynb"')
    (project / "autoflow.toml").write_text(text)
    assert "outside the notebooks folder" in " ".join(problems_of(project / "autoflow.toml"))


def test_upstream_cycle_is_an_error(project):
    write_notebook(project / "notebooks" / "aggregate.ipynb", 'reference_date = ""\nreport = None\nregion = ""')
    text = (
        (project / "autoflow.toml")
        .read_text()
        .replace('path = "aggregate.ipynb"', 'path = "aggregate.ipynb"\n  upstream = ["report"]')
    )
    (project / "autoflow.toml").write_text(text)
    assert "upstream cycle: " in only_problem(project / "autoflow.toml")


def test_unknown_upstream_is_an_error(project):
    text = (project / "autoflow.toml").read_text().replace('upstream = ["aggregate"]', 'upstream = ["agregate"]')
    (project / "autoflow.toml").write_text(text)
    problem = only_problem(project / "autoflow.toml")
    assert "workflow[0].notebook[1].upstream[0]: unknown notebook 'agregate'" in problem


def test_upstream_the_notebook_does_not_declare_is_an_error_with_the_fix(project):
    write_notebook(project / "notebooks" / "report.ipynb", 'reference_date = ""')
    problem = only_problem(project / "autoflow.toml")
    assert "does not declare parameter 'aggregate'" in problem and "aggregate = None" in problem


def test_workflow_parameter_no_notebook_declares_is_an_error(project):
    write_notebook(project / "notebooks" / "aggregate.ipynb", 'reference_date = ""\ndate_ranges = []')
    problem = only_problem(project / "autoflow.toml")
    assert "workflow[0].parameters.region:" in problem


def test_duplicate_workflow_names_are_an_error(project):
    text = (project / "autoflow.toml").read_text()
    workflow = text[text.index("[[workflow]]") :]
    (project / "autoflow.toml").write_text(text + "\n" + workflow)
    assert "workflow[1].name: workflow 'daily' is defined twice" in only_problem(project / "autoflow.toml")


def test_invalid_toml_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[paths\nnotebooks = 1\n")
    assert "not valid TOML" in only_problem(path)


def test_missing_config_file_says_how_to_point_at_one(tmp_path):
    assert "--config" in only_problem(tmp_path / "nope.toml")


def test_bad_stencil_and_bad_dataset_are_reported_together(project):
    text = (project / "autoflow.toml").read_text()
    text = text.replace("date_stencil = [[-1, 1]]", "date_stencil = [[1, -1]]").replace('["calls"]', '["Calls!"]')
    (project / "autoflow.toml").write_text(text)
    problems = problems_of(project / "autoflow.toml")
    assert any("workflow[0].date_stencil:" in p for p in problems)
    assert any("workflow[0].datasets:" in p for p in problems)


def test_workflow_name_must_be_safe_as_a_folder_name(project):
    text = (project / "autoflow.toml").read_text().replace('name = "daily"', 'name = "../etc"')
    (project / "autoflow.toml").write_text(text)
    assert "workflow[0].name:" in only_problem(project / "autoflow.toml")


def test_flowapi_needs_exactly_one_token_source(project):
    write_config(project, extra='[flowapi]\nurl = "https://flowapi.example.org"')
    assert "flowapi: set exactly one of token_file or token_env" in only_problem(project / "autoflow.toml")


def test_a_bad_ssl_certificate_is_one_line_saying_what_it_may_be(project):
    write_config(project, extra='[flowapi]\nurl = "https://flowapi.example.org"\ntoken_env = "T"\nssl_certificate = 5')
    problem = only_problem(project / "autoflow.toml")
    assert "flowapi.ssl_certificate: expected true, false or the path of a CA bundle, got 5" in problem


def test_flowapi_token_without_flowapi_section_is_an_error(project):
    write_config(project, workflow_extra="flowapi_token = true")
    assert "flowapi_token = true needs a [flowapi] section" in only_problem(project / "autoflow.toml")


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("10m", 600), ("1h", 3600), ("2d", 172800), (5, 5)])
def test_durations_accept_the_documented_units(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_a_notebook_may_not_be_named_index_the_failure_pages_name(project):
    text = (project / "autoflow.toml").read_text().replace('name = "report"', 'name = "index"')
    (project / "autoflow.toml").write_text(text)
    problem = only_problem(project / "autoflow.toml")
    assert "workflow[0].notebook[1].name:" in problem and "failure page" in problem


def test_a_workflow_may_not_take_the_name_of_the_outbox_overview(project):
    text = (project / "autoflow.toml").read_text().replace('name = "daily"', 'name = "index.html"')
    (project / "autoflow.toml").write_text(text)
    assert "workflow[0].name: workflow name 'index.html' is taken" in only_problem(project / "autoflow.toml")
