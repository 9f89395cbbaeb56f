"""Shared fixtures: a project folder with a config and real notebooks."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from daemon_process import stop_leftovers
from project_files import make_project

# the fast tier's guard: unmarked tests are marked `fast` and may start no process or server
pytest_plugins = ["server_guard", "pytester"]

REPO = Path(__file__).resolve().parents[1]

# Session fixtures that are costly to make: under pytest-xdist (--dist loadgroup) the tests using one
# run on one worker, so that it is made once rather than once per worker.
SESSION_GROUPS = {
    "executed": "render-executed-notebooks",  # tests/render: notebooks run in real kernels
    "rendered": "render-executed-notebooks",
    "scram_server": "flowdb-scram-server",  # tests/flowdb: a private PostgreSQL cluster with passwords
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        groups = {SESSION_GROUPS[name] for name in getattr(item, "fixturenames", ()) if name in SESSION_GROUPS}
        if groups:
            item.add_marker(pytest.mark.xdist_group(min(groups)))


def requires_services() -> bool:
    """In scripts/test.sh every service must be there: a missing one fails instead of skipping."""
    return os.environ.get("AUTOFLOW_TEST_REQUIRE_SERVICES") == "1"


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test() -> Iterator[None]:
    """A test that failed before stopping its daemons leaves none behind for the tests after it."""
    yield
    stop_leftovers()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A two-notebook workflow (aggregate -> report) with short timings, ready to run."""
    return make_project(tmp_path)
