"""``[flowdb]`` in the config: its keys, defaults, and one-line errors for what cannot work."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from project_files import write_config

from autoflow_watch.config import ConfigError, load_config


def flowdb_section(project: Path, body: str) -> Path:
    write_config(project, extra=f"[flowdb]\n{body}")
    return project / "autoflow.toml"


def only_problem(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: flowdb")
    return problem


def test_defaults_and_a_password_file_relative_to_the_config(project: Path):
    config = load_config(
        flowdb_section(project, 'url = "postgresql+psycopg://reader@flowdb:5432/flowdb"\npassword_file = "pw"')
    )
    flowdb = config.app.flowdb
    assert flowdb is not None
    assert (flowdb.poll_interval, flowdb.listen, flowdb.timeout) == (timedelta(minutes=5), True, timedelta(seconds=30))
    assert flowdb.password_file == project / "pw"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://reader:hunter22@flowdb/flowdb", "password_file"),
        ("postgresql://reader@flowdb/flowdb?password=hunter22", "password_file"),
        ("mysql://reader@flowdb/flowdb", "postgresql://"),
        ("postgresql://reader@flowdb", "names no database"),
        ("not a url", "expected a PostgreSQL URL"),
    ],
)
def test_a_url_that_cannot_work_is_one_clear_line(project: Path, url: str, says: str):
    problem = only_problem(flowdb_section(project, f'url = "{url}"'))
    assert "flowdb.url" in problem and says in problem
    assert "hunter22" not in problem


def test_unknown_keys_are_refused(project: Path):
    problem = only_problem(flowdb_section(project, 'url = "postgresql://r@h/flowdb"\nlisten_channel = "x"'))
    assert "flowdb.listen_channel" in problem and "unknown key" in problem
