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


@pytest.hookimpl(trylast=True)  # after server_guard has marked the fast tier
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests sharing a costly session fixture in one xdist group; then longest first.

    Longest first, so that the two xdist workers finish together.

    The 3-minute soak starts at once on one worker while the other takes the rest; the fast tier
    comes last and fills the gaps. Left in file order the soak came last and ran alone.
    """
    for item in items:
        groups = {SESSION_GROUPS[name] for name in getattr(item, "fixturenames", ()) if name in SESSION_GROUPS}
        if groups:
            item.add_marker(pytest.mark.xdist_group(min(groups)))
    items.sort(key=_duration_rank)


def _duration_rank(item: pytest.Item) -> int:
    if item.get_closest_marker("soak"):
        return 0
    return 2 if item.get_closest_marker("fast") else 1


def requires_services() -> bool:
    """In scripts/test.sh every service must be there: a missing one fails instead of skipping."""
    return os.environ.get("AUTOFLOW_TEST_REQUIRE_SERVICES") == "1"


@pytest.fixture(autouse=True)
def _no_daemon_outlives_its_test() -> Iterator[None]:
    """A test that failed before stopping its daemons leaves none behind for the tests after it."""
    yield
    stop_leftovers()


@pytest.fixture(autouse=True)
def _no_run_keys_outlive_their_test() -> Iterator[None]:
    """Run keys bound process-wide by a test that drove an attempt in-process do not tag later tests' lines."""
    yield
    from autoflow_watch import logs

    logs.bind_run(**dict.fromkeys(logs.RUN_KEYS))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A two-notebook workflow (aggregate -> report) with short timings, ready to run."""
    return make_project(tmp_path)
