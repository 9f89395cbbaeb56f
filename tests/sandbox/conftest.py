"""Sandbox tests use the fake FlowAPI of tests/flowapi."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flowapi"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
