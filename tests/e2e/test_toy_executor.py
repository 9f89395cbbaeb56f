"""An executor added through the registry alone: its attempts run, with no change to the daemon."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notebooks import write_notebook
from project_files import FAST_EXECUTION_TOML, PATHS_TOML
from toy_executor import InProcessExecutor

from autoflow_watch.cli import main
from autoflow_watch.config import ConfigError, load_config
from autoflow_watch.daemon.executors import executor_changed
from autoflow_watch.daemon.loop import Daemon
from autoflow_watch.extensions import register_executor, unregister_executor

pytestmark = pytest.mark.e2e


@pytest.fixture
def inprocess() -> Iterator[None]:
    register_executor("inprocess", InProcessExecutor)
    yield
    unregister_executor("inprocess")


def test_an_executor_registered_alone_runs_the_attempts(tmp_path: Path, inprocess: None) -> None:
    out = tmp_path / "written"
    out.mkdir()
    write_notebook(
        tmp_path / "notebooks" / "count.ipynb",
        'reference_date = ""\nfolder = ""',
        "from pathlib import Path\n(Path(folder) / f'{reference_date}.txt').write_text('ran here')",
    )
    execution = FAST_EXECUTION_TOML.replace("[execution]\n", '[execution]\nbackend = "inprocess"\n')
    (tmp_path / "autoflow.toml").write_text(
        f'{PATHS_TOML}\n{execution}\n[[workflow]]\nname = "daily"\ndatasets = ["calls"]\n'
        f'parameters = {{ folder = "{out}" }}\n\n  [[workflow.notebook]]\n  name = "count"\n  path = "count.ipynb"\n'
    )
    (tmp_path / "var" / "inbox").mkdir(parents=True)
    (tmp_path / "var" / "inbox" / "calls_2026-11-24.ready").touch()
    assert Daemon(load_config(tmp_path / "autoflow.toml"), once=True).run() == 0
    assert (out / "2026-11-24.txt").read_text() == "ran here"
    manifest = json.loads((tmp_path / "var" / "outbox" / "daily" / "2026-11-24" / "manifest.json").read_text())
    assert [nb["name"] for nb in manifest["notebooks"]] == ["count"]


def test_an_unknown_backend_is_refused_naming_the_registered_ones(tmp_path: Path, inprocess: None) -> None:
    execution = FAST_EXECUTION_TOML.replace("[execution]\n", '[execution]\nbackend = "k8s"\n')
    (tmp_path / "autoflow.toml").write_text(f"{PATHS_TOML}\n{execution}\n")
    with pytest.raises(Exception, match="Input should be 'local', 'dask' or 'inprocess'"):
        load_config(tmp_path / "autoflow.toml")


def test_a_backend_brings_its_own_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("autoflow_watch.cli.configure", lambda level: None)  # the suite's logging stays as it is

    def settings(source: Path, execution: Any) -> list[str]:
        return [] if execution.backend == "checked" else [f"{source}: execution: the toy's own key is set"]

    register_executor(
        "checked",
        InProcessExecutor,
        settings_check=settings,
        live_check=lambda config: [f"{config.source}: execution.backend: the toy cluster does not answer"],
        restart_keys=("max_parallel_runs",),
    )
    try:
        chosen = FAST_EXECUTION_TOML.replace("[execution]\n", '[execution]\nbackend = "checked"\n')
        (tmp_path / "autoflow.toml").write_text(f"{PATHS_TOML}\n{chosen}\n")
        assert main(["validate", "--config", str(tmp_path / "autoflow.toml")]) == 2
        assert "the toy cluster does not answer" in capsys.readouterr().err
        config = load_config(tmp_path / "autoflow.toml")
        wider = FAST_EXECUTION_TOML.replace("max_parallel_runs = 2", "max_parallel_runs = 3")
        wider = wider.replace("[execution]\n", '[execution]\nbackend = "checked"\n')
        (tmp_path / "wider.toml").write_text(f"{PATHS_TOML}\n{wider}\n")
        assert executor_changed(config, load_config(tmp_path / "wider.toml")), "its restart key needs a restart"
        (tmp_path / "other.toml").write_text(f"{PATHS_TOML}\n{FAST_EXECUTION_TOML}\n")
        with pytest.raises(ConfigError, match="the toy's own key is set"):
            load_config(tmp_path / "other.toml")
    finally:
        unregister_executor("checked")
