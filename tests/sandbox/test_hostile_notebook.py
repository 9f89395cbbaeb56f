"""A hostile notebook tries every "may not" of DESIGN.md, through the real daemon: sealed, each is blocked.

The same notebook with ``sandbox = "off"`` shows each attack succeeding, so these tests
can fail. Beside it a victim notebook runs in another kernel of the same daemon (its
connection file, sockets and output are targets); afterwards a later notebook looks for
anything the hostile one planted.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, alive_pids, assert_no_kernels_left, cli, wait_for
from fake_flowapi import FakeFlowApi
from sealed_project import SealedProject, free_port, make_sealed_project, targets

pytestmark = pytest.mark.e2e

ALWAYS_TRIED = {
    "read store",
    "read state_folder",
    "read inbox",
    "read outbox",
    "read other_run",
    "read daemon_home",
    "read daemon_home_secret",
    "read config",
    "read token_file",
    "read urls_file",
    "read pgpassfile",
    "read credentials",
    "read credentials_secret",
    "read other_connection_file",
    "write into state_folder",
    "write into inbox",
    "write into outbox",
    "write into other_run",
    "write into notebooks",
    "write a forged manifest in the outbox",
    "write the store",
    "connect to another kernel's shell socket",
    "read another kernel's output (IOPub)",
    "signal 0 to daemon_pid",
    "signal 0 to worker_pid",
    "signal 0 to other_kernel_pid",
    "ptrace another kernel",
    "read /proc/<daemon>/environ",
    "read /proc/<daemon>/maps",
    "read /proc/<daemon>/fd",
    "read /proc/<daemon>/cmdline",
    "read /proc/<daemon>/mem",
    "read /proc/<other kernel>/environ",
    "connect to the metrics port",
    "connect to a PostgreSQL port",
    "connect to FlowAPI without flowapi_token",
    "plant a startup file in the daemon's home",
    "plant a kernelspec in the daemon's home",
    "plant a .pth in site-packages",
}
ONLY_WHEN_SEALED = {
    "SIGSTOP to daemon_pid",
    "SIGTERM to daemon_pid",
    "SIGSTOP to worker_pid",
    "SIGTERM to worker_pid",
    "SIGSTOP to other_kernel_pid",
    "SIGTERM to other_kernel_pid",
    "ptrace the daemon",
}


@pytest.fixture
def postgres_port() -> Iterator[int]:
    """A listening TCP port standing for a PostgreSQL server that no workflow was granted."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield int(server.getsockname()[1])


def process_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]


def run_hostile(tmp_path: Path, sandbox: str, postgres_port: int) -> tuple[SealedProject, dict, dict]:
    """Start the daemon, run the victim, then the hostile notebook beside it; (project, outcomes, targets)."""
    with FakeFlowApi({"calls": []}) as flowapi:
        project = make_sealed_project(tmp_path, sandbox, flowapi.url, flowapi.make_token(), free_port())
        daemon = DaemonProcess(project.config, env=project.env()).start()
        planted_pth = None
        try:
            project.marker("victim")
            victim = wait_for(lambda: project.printed("victim", "victim", "VICTIM"), 120, what="the victim kernel")
            really = sandbox != "off"
            aims = targets(project, daemon.pid, victim, postgres_port, int(flowapi.url.rsplit(":", 1)[1]), really)
            planted_pth = Path(aims["site_packages"]) / "afw_hostile_planted.pth"
            (project.granted / "targets.json").write_text(json.dumps(aims))
            project.marker("hostile")
            outcomes = wait_for(lambda: project.printed("hostile", "hostile", "OUTCOMES"), 180, what="the outcomes")
            assert daemon.process is not None and daemon.process.poll() is None, "the daemon is untouched"
            for pid in (daemon.pid, aims["worker_pid"], victim["pid"]):
                assert process_state(pid) not in ("T", "t", "Z"), f"process {pid} was stopped or killed"
            wait_for(lambda: not alive_pids([outcomes["sleeper_pid"]]), 30, what="the setsid sleeper to be killed")
            (project.granted / "release").touch()
            wait_for(lambda: _state(project, "victim") == "succeeded", 120, what="the victim run to succeed")
            project.marker("later")
            traces = wait_for(lambda: project.printed("later", "later", "TRACES"), 120, what="the later notebook")
            outcomes["later"] = traces
        finally:
            code = daemon.stop()
            if planted_pth is not None:
                planted_pth.unlink(missing_ok=True)
        assert code == 0, daemon.log_text()[-3000:]
        assert_no_kernels_left(project.root / "var" / "state" / "autoflow.db")
        return project, outcomes, aims


def _state(project: SealedProject, workflow: str) -> str | None:
    status = json.loads(cli(project.config, "status", "--json", env=project.env()).stdout or "[]")
    return next((run["state"] for run in status if run["workflow"] == workflow), None)


def test_a_hostile_notebook_is_blocked_at_every_turn_and_leaves_no_trace(tmp_path, postgres_port):
    project, outcomes, _ = run_hostile(tmp_path, "best-effort", postgres_port)
    tried = ALWAYS_TRIED | ONLY_WHEN_SEALED
    report = {name: outcomes.get(name) for name in sorted(tried)}
    assert {name: result for name, result in report.items() if result != "blocked"} == {}, report
    assert outcomes["later"]["traces"] == [], "a later kernel sees nothing the hostile one planted"
    assert outcomes["later"]["home"] != outcomes["home"], "each kernel has its own home"
    assert not Path(outcomes["home"]).exists(), "the hostile kernel's private folder went with it"
    assert not (project.root / "var" / "outbox" / "victim" / "2026-11-24" / "manifest.json").exists() or (
        json.loads((project.root / "var" / "outbox" / "victim" / "2026-11-24" / "manifest.json").read_text())[
            "workflow"
        ]
        == "victim"
    )
    assert not (project.root / "notebooks" / "planted.txt").exists()
    assert not any(project.daemon_home.rglob("00-hostile.py"))
    assert (project.daemon_home / "secret.txt").read_text() == "the daemon user's secret"


def test_the_same_notebook_unsealed_succeeds_at_every_attack(tmp_path, postgres_port):
    """sandbox = "off": the attacks work (as in release 2), which shows the test above can fail."""
    project, outcomes, _ = run_hostile(tmp_path, "off", postgres_port)
    logs = "".join(path.read_text() for path in project.root.glob("daemon-*.log"))
    assert '"event": "sandbox.off"' in logs, "off says so at start"
    report = {name: outcomes.get(name) for name in sorted(ALWAYS_TRIED)}
    assert {name: result for name, result in report.items() if result != "succeeded"} == {}, report
    assert len(outcomes["later"]["traces"]) == 3, "unsealed, a later kernel runs in the planted home"
