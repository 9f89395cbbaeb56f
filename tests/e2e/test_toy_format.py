"""A report format added through the registry alone: published with the others, no edit to render/ or daemon/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from notebooks import write_notebook
from project_files import FAST_EXECUTION_TOML, PATHS_TOML
from toy_executor import InProcessExecutor

from autoflow_watch.config import load_config
from autoflow_watch.daemon.loop import Daemon
from autoflow_watch.extensions import register_executor, register_format, unregister_executor, unregister_format
from autoflow_watch.render.report import Report

pytestmark = pytest.mark.e2e


def write_markdown(report: Report) -> Path:
    """The toy format: the notebook's markdown cells and code outputs' plain text, as one markdown file."""
    nb = nbformat.read(report.notebook_path, as_version=4)
    parts = [f"# {report.context.workflow} {report.context.reference_date}"]
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            parts.append(f"```\n{''.join(text).rstrip()}\n```")
    target = report.path("md")
    target.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return target


@pytest.fixture
def markdown() -> Iterator[None]:
    register_executor("inprocess", InProcessExecutor)  # renders where the attempt runs: in this process
    register_format("md", write_markdown)
    yield
    unregister_format("md")
    unregister_executor("inprocess")


def _project(tmp_path: Path, formats: str) -> Path:
    write_notebook(tmp_path / "notebooks" / "count.ipynb", 'reference_date = ""', "print(f'counted {reference_date}')")
    execution = FAST_EXECUTION_TOML.replace("[execution]\n", '[execution]\nbackend = "inprocess"\n')
    (tmp_path / "autoflow.toml").write_text(
        f'{PATHS_TOML}\n{execution}\n[[workflow]]\nname = "daily"\ndatasets = ["calls"]\n\n'
        f'  [[workflow.notebook]]\n  name = "count"\n  path = "count.ipynb"\n  report = {{ formats = {formats} }}\n'
    )
    return tmp_path / "autoflow.toml"


def test_a_format_registered_alone_is_published_with_the_others(tmp_path: Path, markdown: None) -> None:
    config = _project(tmp_path, '["html", "md"]')
    (tmp_path / "var" / "inbox").mkdir(parents=True)
    (tmp_path / "var" / "inbox" / "calls_2026-11-24.ready").touch()
    assert Daemon(load_config(config), once=True).run() == 0
    report = tmp_path / "var" / "outbox" / "daily" / "2026-11-24"
    assert (report / "count.md").read_text(encoding="utf-8").startswith("# daily 2026-11-24")
    assert (report / "count.html").is_file()
    manifest = json.loads((report / "manifest.json").read_text())
    assert {output["path"] for output in manifest["outputs"]} >= {"count.html", "count.md"}


def test_an_unknown_format_is_refused_naming_the_registered_ones(tmp_path: Path, markdown: None) -> None:
    with pytest.raises(Exception, match="Input should be 'html', 'pdf', 'ipynb' or 'md'"):
        load_config(_project(tmp_path, '["html", "docx"]'))
