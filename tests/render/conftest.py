"""Executed notebooks for the render tests: made once per session (kernels are the slow part)."""

from __future__ import annotations

from pathlib import Path

import pytest
from render_checks import EXAMPLE_PARAMETERS, EXAMPLES, FIXTURES, TOKEN, execute, report_context

from autoflow_watch.render.report import render_report


@pytest.fixture(scope="session")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The example report (after its upstream), the wide/tall notebook and the failing one."""
    folder = tmp_path_factory.mktemp("executed")
    aggregate = execute(
        EXAMPLES / "aggregate.ipynb", folder / "aggregate.ipynb", cwd=EXAMPLES, run_id="r-1", **EXAMPLE_PARAMETERS
    )
    report = execute(
        EXAMPLES / "report.ipynb", folder / "report.ipynb", cwd=EXAMPLES, aggregate=str(aggregate), **EXAMPLE_PARAMETERS
    )
    wide = execute(
        FIXTURES / "wide_tall_formula.ipynb", folder / "wide_tall_formula.ipynb", cwd=FIXTURES, api_token=TOKEN
    )
    failed = execute(
        FIXTURES / "failed_long_traceback.ipynb",
        folder / "failed_long_traceback.ipynb",
        cwd=FIXTURES,
        expect_failure=True,
    )
    return {"aggregate": aggregate, "report": report, "wide": wide, "failed": failed}


@pytest.fixture(scope="session")
def rendered(executed: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each notebook rendered once the way the daemon does; keys name the file (``wide.pdf``...)."""
    out = tmp_path_factory.mktemp("rendered")
    files: dict[str, Path] = {}
    jobs = [
        ("report", executed["report"], ["html", "pdf", "ipynb"], report_context(), False),
        ("wide", executed["wide"], ["html", "pdf", "ipynb"], report_context(workflow="indicators"), False),
        ("wide_code", executed["wide"], ["html"], report_context(workflow="indicators"), True),
        ("failed", executed["failed"], ["html", "pdf"], report_context("failed", workflow="nightly"), True),
    ]
    for name, notebook, formats, ctx, show_code in jobs:
        for path in render_report(notebook, out / name, name, formats, ctx, show_code=show_code):
            files[path.name] = path
    return files
