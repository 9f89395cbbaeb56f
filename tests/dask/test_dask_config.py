"""The Dask keys of [execution], and what the dashboard may see of a task's arguments."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from dask_cluster import use_dask

from autoflow_watch.config import ConfigError, load_config
from autoflow_watch.executor.dask.task import NotebookTask, SealedToken
from autoflow_watch.executor.job import NotebookJob, RunJob


def _problems(project: Path, execution: str, address: str = "tcp://127.0.0.1:8786") -> list[str]:
    use_dask(project / "autoflow.toml", address, execution)
    with pytest.raises(ConfigError) as caught:
        load_config(project / "autoflow.toml")
    return caught.value.problems


def test_a_dask_config_loads_with_tls_files_relative_to_it(project: Path) -> None:
    for name in ("ca.pem", "client.pem", "client.key"):
        (project / name).write_text("x")
    tls = 'dask_tls = { ca_file = "ca.pem", cert = "client.pem", key = "client.key" }'
    config = load_config(use_dask(project / "autoflow.toml", "tls://sched.example.org:8786", tls))
    assert config.app.execution.dask_tls is not None
    assert config.app.execution.dask_tls.ca_file == project / "ca.pem"


def test_a_bad_address_is_one_line_naming_the_key(project: Path) -> None:
    [line] = _problems(project, "", address="sched.example.org")
    assert "execution.dask_scheduler: expected tcp://host:port or tls://host:port" in line


@pytest.mark.process
def test_a_plain_tcp_scheduler_is_refused_unless_the_config_says_it_is_trusted(project: Path) -> None:
    use_dask(project / "autoflow.toml", "tcp://127.0.0.1:8786", insecure=False)
    with pytest.raises(ConfigError) as caught:
        load_config(project / "autoflow.toml")
    [line] = caught.value.problems
    assert "execution.dask_scheduler: tcp:// is neither encrypted nor authenticated" in line
    assert "set dask_insecure = true in [execution]" in line and "\n" not in line
    result = subprocess.run(
        [sys.executable, "-m", "autoflow_watch", "validate", "--config", str(project / "autoflow.toml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "tcp:// is neither encrypted nor authenticated" in result.stdout + result.stderr


def test_dask_insecure_is_only_for_the_dask_backend(project: Path) -> None:
    config = project / "autoflow.toml"
    config.write_text(config.read_text().replace("[execution]\n", "[execution]\ndask_insecure = true\n", 1))
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert [line.split(": ", 2)[1:] for line in caught.value.problems] == [
        ["execution.dask_insecure", 'only used with backend = "dask"']
    ]


def test_tls_without_files_and_missing_files_are_refused(project: Path) -> None:
    [line] = _problems(project, "", address="tls://sched:8786")
    assert "execution.dask_tls: a tls:// scheduler needs dask_tls" in line


def test_missing_tls_files_are_named(tmp_path: Path, project: Path) -> None:
    tls = 'dask_tls = { ca_file = "nope.pem", cert = "nope.pem", key = "nope.key" }'
    lines = _problems(project, tls, address="tls://sched:8786")
    assert [line.split(": ")[1] for line in lines] == [
        "execution.dask_tls.ca_file",
        "execution.dask_tls.cert",
        "execution.dask_tls.key",
    ]


def test_the_token_is_in_no_repr_or_str_of_a_task_yet_travels(tmp_path: Path) -> None:
    notebook = NotebookJob("nb", str(tmp_path / "nb.ipynb"), [], ["reference_date"], "0" * 64)
    run_id, work = "wf-2026-11-24-a1-x", str(tmp_path)
    job = RunJob("wf", "2026-11-24", run_id, 1, 0.0, [], {}, [notebook], work, "python3", 1, 1, 1)
    secret = "eyJhbGciOiJIUzI1NiJ9.sEcReTtOkEnPaYlOaD.sIgNaTuRe123"
    task = NotebookTask(job, notebook, {"reference_date": "2026-11-24"}, b"{}", {}, SealedToken(secret))
    for shown in (repr(task), str(task), repr(task.token), str(task.token), repr((task,)), str([task])):
        assert secret not in shown
    assert pickle.loads(pickle.dumps(task)).token.value == secret
