"""FlowAPI as a source of the real daemon: the real flowclient polling a fake FlowAPI on 127.0.0.1.

These pin what an operator sees: a date FlowAPI lists runs the workflows that wait for it,
the token reaches only the kernels of workflows that asked for it, and a failing,
refusing or rotated-token FlowAPI never stops the daemon or the inbox.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, assert_no_kernels_left, cli, wait_for
from notebooks import write_notebook
from project_files import PATHS_TOML

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flowapi"))

from fake_flowapi import FakeFlowApi

pytestmark = pytest.mark.e2e

PROBE = """\
import hashlib, os
token = os.environ.get("FLOWAPI_TOKEN", "")
print("token present:", bool(token))
print("token sha256:", hashlib.sha256(token.encode()).hexdigest() if token else "-")
print("flowapi_url:", flowapi_url)
"""

CONFIG = (
    PATHS_TOML
    + """
[execution]
max_parallel_runs = 2
max_attempts = 2
retry_backoff = "1s"
shutdown_grace = "5s"
lease_renew_interval = "1s"
lease_timeout = "30s"  # generous: a busy machine must not expire a live daemon's lease

[inbox]
settle = "0.2s"
rescan_interval = "2s"

[flowapi]
url = "{url}"
token_file = "flowapi-token"
poll_interval = "1s"
timeout = "30s"  # generous: no test here is about the timeout, and the fake answers slowly on a busy machine

[[workflow]]
name = "with-token"
datasets = ["calls"]
flowapi_token = true
  [[workflow.notebook]]
  name = "probe"
  path = "probe.ipynb"
  report = {{ formats = ["html", "ipynb"] }}

[[workflow]]
name = "without-token"
datasets = ["calls"]
  [[workflow.notebook]]
  name = "probe"
  path = "probe.ipynb"
  report = {{ formats = ["html", "ipynb"] }}

[[workflow]]
name = "from-inbox"
datasets = ["weather"]
  [[workflow.notebook]]
  name = "probe"
  path = "probe.ipynb"
  report = {{ formats = ["html"] }}
"""
)


@pytest.fixture
def server() -> Iterator[FakeFlowApi]:
    fake = FakeFlowApi({"calls": ["2026-11-24"], "sms": ["2026-11-24"]})
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def config(tmp_path: Path, server: FakeFlowApi) -> Path:
    write_notebook(tmp_path / "notebooks" / "probe.ipynb", 'reference_date = ""\nflowapi_url = ""', PROBE)
    (tmp_path / "flowapi-token").write_text(server.make_token() + "\n", encoding="utf-8")
    path = tmp_path / "autoflow.toml"
    path.write_text(CONFIG.format(url=server.url), encoding="utf-8")
    return path


def report(config: Path, workflow: str, day: str) -> Path:
    return config.parent / "var" / "outbox" / workflow / day


def published(config: Path, workflow: str, day: str) -> bool:
    return (report(config, workflow, day) / "manifest.json").exists()


def assert_secret_nowhere(config: Path, secrets: list[str], daemon: DaemonProcess) -> None:
    """No byte of any token in the daemon's log, the work folder, the outbox or the state store."""
    var = config.parent / "var"
    files = [daemon.log_path, *(p for p in var.rglob("*") if p.is_file())]
    for path in files:
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"the FlowAPI token leaked into {path}"


def test_flowapi_date_runs_workflows_and_only_the_one_that_asked_gets_the_token(config, server):
    token = (config.parent / "flowapi-token").read_text().strip()
    daemon = DaemonProcess(config).start()
    try:
        wait_for(lambda: published(config, "with-token", "2026-11-24"), 120, what="with-token report")
        wait_for(lambda: published(config, "without-token", "2026-11-24"), 120, what="without-token report")
    finally:
        assert daemon.stop() == 0
    with_token = (report(config, "with-token", "2026-11-24") / "probe.html").read_text(encoding="utf-8")
    without = (report(config, "without-token", "2026-11-24") / "probe.html").read_text(encoding="utf-8")
    assert "token present: True" in with_token
    assert hashlib.sha256(token.encode()).hexdigest() in with_token, "the kernel got exactly the token file's token"
    assert "token present: False" in without
    assert f"flowapi_url: {server.url}" in without, "notebooks declaring flowapi_url receive it"
    assert server.bearers() and set(server.bearers()) == {token}
    assert daemon.events("flowapi.poll.ok"), "the poll was logged"
    assert_secret_nowhere(config, [token], daemon)
    assert_no_kernels_left(config.parent / "var" / "state" / "autoflow.db")


def test_failing_flowapi_leaves_inbox_running_and_recovers_with_new_dates(config, server):
    server.set_mode("server_error")
    daemon = DaemonProcess(config).start()
    try:
        (config.parent / "var" / "inbox" / "weather_2026-11-24.ready").touch()
        wait_for(lambda: published(config, "from-inbox", "2026-11-24"), 120, what="the inbox workflow's report")
        assert not published(config, "with-token", "2026-11-24"), "nothing ran from a failing FlowAPI"
        failures = daemon.events("flowapi.poll.failed")
        assert len(failures) == 1, "a lasting failure is said once, not at every poll"

        server.set_mode("ok")
        wait_for(lambda: published(config, "with-token", "2026-11-24"), 120, what="the report after recovery")
        assert daemon.events("flowapi.poll.recovered")
    finally:
        assert daemon.stop() == 0
    status = json.loads(cli(config, "status", "--json").stdout)
    assert sorted((r["workflow"], r["state"]) for r in status) == [
        ("from-inbox", "succeeded"),
        ("with-token", "succeeded"),
        ("without-token", "succeeded"),
    ]


def test_refused_token_is_reported_and_a_rotated_token_is_used_without_restart(config, server):
    token_file = config.parent / "flowapi-token"
    bad = server.make_token(key="not-the-server-key-but-long-enough-32b")
    token_file.write_text(bad + "\n", encoding="utf-8")
    daemon = DaemonProcess(config).start()
    try:
        refused = daemon.wait_for_event("flowapi.poll.failed", timeout=30)
        assert "401" in json.dumps(refused[0]) or "unauthori" in json.dumps(refused[0]).lower()
        assert not published(config, "with-token", "2026-11-24")

        good = server.make_token(sub="rotated")
        token_file.write_text(good + "\n", encoding="utf-8")
        wait_for(lambda: published(config, "with-token", "2026-11-24"), 120, what="the report after rotation")
        server.dates["calls"] = ["2026-11-24", "2026-11-25"]
        wait_for(lambda: published(config, "with-token", "2026-11-25"), 120, what="the next day's report")
    finally:
        assert daemon.stop() == 0
    html = (report(config, "with-token", "2026-11-25") / "probe.html").read_text(encoding="utf-8")
    assert hashlib.sha256(good.encode()).hexdigest() in html, "kernels get the rotated token"
    assert_secret_nowhere(config, [bad, good], daemon)
