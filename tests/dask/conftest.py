"""Fixtures: a real Dask cluster on 127.0.0.1 and a project whose config points the daemon at it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from dask_cluster import DaskCluster, ThrowawayUser


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    """A running scheduler with no worker yet (tests start the workers they need)."""
    started = DaskCluster(Path(f"/tmp/afw-dask-logs-{os.getpid()}-{tmp_path.name}"))
    started.start_scheduler()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def other_user() -> Iterator[ThrowawayUser]:
    if os.geteuid() != 0:
        pytest.skip("creating a throwaway user needs root")
    user = ThrowawayUser()
    try:
        yield user
    finally:
        user.remove()
