"""Fixtures for end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def state_db(tmp_path: Path) -> Path:
    return tmp_path / "var" / "state" / "autoflow.db"
