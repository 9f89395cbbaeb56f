"""Notification targets are never logged whole (issue 19, item 10).

A webhook's path is often its only secret. Logs name a target by its place in the config and
its scheme, host and port: ``notify.urls[1] json://127.0.0.1:8080``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from faulty_project import single_notebook_project
from receivers import run_once_notifying, start_http

pytestmark = pytest.mark.e2e

PATH_SECRET = "T0SECRET/B0SECRET"  # as Slack-style webhooks carry their secret in the path


def test_logs_name_targets_by_position_scheme_host_and_port_only(tmp_path: Path) -> None:
    good, failing = start_http(), start_http(status=500)
    config = single_notebook_project(tmp_path, "raise ValueError('broken')", workflow="max_attempts = 1")
    done = run_once_notifying(config, [good, failing], [good.url(PATH_SECRET), failing.url(PATH_SECRET)])
    assert done.returncode == 1, done.stderr[-2000:]
    assert good.bodies, "the message went out"
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    [ready] = [line for line in lines if line["event"] == "notify.ready"]
    assert ready["targets"] == [
        f"notify.urls[0] json://127.0.0.1:{good.port}",
        f"notify.urls[1] json://127.0.0.1:{failing.port}",
    ]
    failing_lines = [line for line in lines if line["event"] in ("notify.target_failing", "notify.unsent_at_shutdown")]
    assert failing_lines and all("notify.urls[1]" in json.dumps(line) for line in failing_lines)
    assert "SECRET" not in done.stderr and "/hook" not in done.stderr


def test_a_token_where_the_host_goes_is_not_shown() -> None:
    from autoflow_watch.config.notify_urls import target_name

    assert target_name("notify.urls[0]", "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7F") == (
        "notify.urls[0] slack://…"
    )
    assert target_name("notify.urls_file line 3", "mailtos://bob:pw@smtp.example.org:587/?to=a@b.org") == (
        "notify.urls_file line 3 mailtos://smtp.example.org:587"
    )
