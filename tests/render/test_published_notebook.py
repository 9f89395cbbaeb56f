"""The executed notebook as published (``formats`` with ``ipynb``): no absolute paths, no secrets."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from render_checks import TOKEN, report_context

from autoflow_watch.render.report import render_report
from autoflow_watch.secrets import register_secret


def test_published_example_notebook_keeps_results_but_not_where_it_ran(
    rendered: dict[str, Path], executed: dict[str, Path]
) -> None:
    text = rendered["report.ipynb"].read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert str(executed["report"].parent) not in text, "the run folder's absolute path is gone"
    assert "/examples/notebooks" not in text
    papermill = nb.metadata["papermill"]
    assert papermill["input_path"] == "report.ipynb" and papermill["output_path"] == "report.ipynb"
    assert papermill["parameters"]["aggregate"] == "aggregate.ipynb"
    assert "image/png" in json.dumps([c.get("outputs") for c in nb.cells]), "results stay"


def test_secret_named_parameters_are_redacted_in_metadata_and_injected_cell(rendered: dict[str, Path]) -> None:
    text = rendered["wide.ipynb"].read_text(encoding="utf-8")
    assert TOKEN not in text
    nb = nbformat.reads(text, as_version=4)
    assert nb.metadata["papermill"]["parameters"]["api_token"] == "[redacted]"
    injected = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "api_token = '[redacted]'" in injected.source


def test_environment_paths_and_the_flowapi_token_never_reach_the_published_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "flowapi-token-from-the-environment-0123456789"
    registered = "registered-db-password-value"
    monkeypatch.setenv("FLOWAPI_TOKEN", token)
    register_secret(registered)
    work = "/var/lib/autoflow-watch/work/daily/2026-11-24/run-9"
    injected = new_code_cell(
        f'reference_date = "2026-11-24"\naggregate = "{work}/aggregate.ipynb"\n'
        f'db_password = "{registered}"\nservice_secret_key = "abc"\nregion = "admin2"'
    )
    injected.metadata["tags"] = ["injected-parameters"]
    leaky = new_code_cell(
        "import os; print(os.environ)",
        outputs=[new_output("stream", name="stdout", text=f"FLOWAPI_TOKEN={token} JWT={TOKEN} pw={registered}")],
    )
    nb = new_notebook(cells=[new_markdown_cell("# Leaky"), injected, leaky])
    nb.metadata["papermill"] = {
        "input_path": "/srv/notebooks/report.ipynb",
        "output_path": f"{work}/report.ipynb",
        "cwd": "/srv/notebooks",
        "environment_variables": {"FLOWAPI_TOKEN": token, "HOME": "/var/lib/autoflow-watch"},
        "parameters": {"aggregate": f"{work}/aggregate.ipynb", "db_password": registered, "region": "admin2"},
    }
    source = tmp_path / "report.ipynb"
    nbformat.write(nb, str(source))

    [published] = render_report(source, tmp_path / "out", "report", ["ipynb"], report_context())

    text = published.read_text(encoding="utf-8")
    for secret in (token, TOKEN, registered, "/var/lib/autoflow-watch", "/srv/notebooks"):
        assert secret not in text, f"{secret!r} reached the published notebook"
    clean = nbformat.reads(text, as_version=4)
    papermill = clean.metadata["papermill"]
    assert "environment_variables" not in papermill and "cwd" not in papermill
    assert papermill["parameters"] == {"aggregate": "aggregate.ipynb", "db_password": "[redacted]", "region": "admin2"}
    assert 'aggregate = "aggregate.ipynb"' in clean.cells[1].source
    assert "service_secret_key = '[redacted]'" in clean.cells[1].source
    assert 'region = "admin2"' in clean.cells[1].source
