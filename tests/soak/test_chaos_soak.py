"""The chaos soak in the slow tier: 3 minutes here; ``tests/soak/chaos.py --minutes 30`` by hand."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from chaos import run_soak
from private_postgres import postgres_bin

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.soak, pytest.mark.timeout(3600)]


def test_three_daemons_publish_every_report_exactly_once_through_kills_pauses_and_restarts(tmp_path: Path) -> None:
    if postgres_bin() is None:
        if os.environ.get("AUTOFLOW_TEST_REQUIRE_SERVICES") == "1":
            pytest.fail("PostgreSQL binaries are missing although scripts/test.sh installs them")
        pytest.skip("no PostgreSQL binaries")
    seed = int(os.environ.get("AUTOFLOW_SOAK_SEED") or random.SystemRandom().randrange(1 << 31))
    counts = run_soak(tmp_path, minutes=3.0, markers=200, seed=seed)
    print(counts)
    assert counts.problems == [], f"seed {seed}: {counts.problems[:10]}"
    assert counts.markers == 200 and counts.published == 200 and counts.duplicates == 0
    assert counts.kills and counts.pauses, f"seed {seed}: the chaos loop did its work: {counts}"
