"""The units let the notebook sandbox work and bring the service back whatever stopped it."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from systemd_root import SYSTEMD, values

pytestmark = pytest.mark.process  # each test runs the CLI, the launcher or a tool as a child process

UNITS = ["autoflow-watch.service", "autoflow-watch@.service"]
LANDLOCK_CALLS = {"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"}


@pytest.mark.parametrize("unit", UNITS)
def test_landlock_calls_are_allowed_and_the_service_always_restarts_without_a_start_limit(unit):
    text = (SYSTEMD / unit).read_text(encoding="utf-8")
    assert set(values(text, "SystemCallFilter")) >= LANDLOCK_CALLS
    assert values(text, "Restart") == ["always"]
    assert values(text, "StartLimitIntervalSec") == ["0"] and values(text, "StartLimitBurst") == []
    for kept in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "ProtectProc"):
        assert values(text, kept), f"{kept} is kept"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_units_exposure_is_no_worse_than_release_2():
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(SYSTEMD / "autoflow-watch.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    level = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout).group(1))
    assert level <= 1.6, done.stdout[-2000:]
