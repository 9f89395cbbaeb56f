"""The sandbox's config: grants that would open the daemon's own files are errors, its ports get a warning."""

from __future__ import annotations

import pytest
from daemon_process import cli
from project_files import write_config

pytestmark = pytest.mark.process  # each test runs the CLI, the launcher or a tool as a child process


@pytest.fixture
def project(tmp_path):
    from project_files import make_project

    make_project(tmp_path)
    (tmp_path / "shared").mkdir()
    return tmp_path


def daemon_home(project):
    """The daemon user's home, outside the project (a grant inside the config's own folder is the project's)."""
    return project.parent / f"{project.name}-home"


def validate(project, workflow_extra="", extra="", env=None):
    config = write_config(project, workflow_extra=workflow_extra, extra=extra)
    return cli(config, "validate", env={"HOME": str(daemon_home(project)), **(env or {})})


def test_validate_says_what_this_host_enforces(project):
    result = validate(project, 'read_paths = ["shared"]\nwrite_paths = ["shared"]\nconnect_ports = [443]')
    assert result.returncode == 0, result.stderr
    line = result.stdout.splitlines()[-1]
    assert line.startswith("sandbox: best-effort, Landlock ABI ") and "files" in line and "signals" in line


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ('read_paths = ["missing"]', "missing does not exist"),
        ('read_paths = ["var"]', "contains the inbox"),
        ('read_paths = ["var/inbox"]', "is the inbox"),
        ('write_paths = ["var/outbox/daily"]', "lies inside the outbox"),
        ('read_paths = ["autoflow.toml"]', "is the config file"),
        ('read_paths = ["var/state"]', "is the state store's folder"),
        ('read_paths = ["../{home}/.ssh"]', "lies inside the daemon user's home"),
    ],
)
def test_a_grant_of_the_daemons_own_files_is_a_config_error(project, entry, says):
    for folder in ("var/inbox", "var/outbox/daily", "var/state"):
        (project / folder).mkdir(parents=True, exist_ok=True)
    (daemon_home(project) / ".ssh").mkdir(parents=True)
    result = validate(project, entry.replace("{home}", daemon_home(project).name))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "workflow[0]." in line and says in line, line


def test_a_granted_port_of_the_daemons_own_services_gets_a_warning(project):
    result = validate(project, "connect_ports = [9464]", extra='[metrics]\nlisten = "127.0.0.1:9464"')
    assert result.returncode == 0
    assert "config warning:" in result.stderr and "port 9464 is the metrics page's port" in result.stderr


def test_required_refuses_a_host_without_landlock_in_one_line_and_best_effort_runs(project):
    required = validate(project, extra="", env={"AUTOFLOW_WATCH_LANDLOCK_ABI": "0"})
    assert required.returncode == 0 and "Landlock ABI 0: enforces nothing" in required.stdout
    config = project / "autoflow.toml"
    config.write_text(config.read_text().replace("[execution]\n", '[execution]\nsandbox = "required"\n', 1))
    for command in ("validate", "run"):
        refused = cli(
            config, command, *(["--once"] if command == "run" else []), env={"AUTOFLOW_WATCH_LANDLOCK_ABI": "5"}
        )
        assert refused.returncode == 2
        [line] = refused.stderr.strip().splitlines()
        assert 'sandbox = "required"' in line and "signals" in line and "ABI 5" in line


@pytest.mark.e2e
def test_best_effort_on_a_host_without_landlock_runs_the_notebooks_and_says_so(project):
    config = write_config(project)
    (project / "var" / "inbox").mkdir(parents=True)
    for day in ("2026-11-23", "2026-11-24"):
        (project / "var" / "inbox" / f"calls_{day}.ready").touch()
    result = cli(config, "run", "--once", env={"AUTOFLOW_WATCH_LANDLOCK_ABI": "0"})
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [line for line in result.stderr.splitlines() if "sandbox.partial" in line]
    assert "Landlock ABI 0: enforces nothing" in line and '"files": false' in line
    assert (project / "var" / "outbox" / "daily" / "2026-11-24" / "manifest.json").exists()
