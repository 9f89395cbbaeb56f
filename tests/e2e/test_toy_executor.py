"""An executor added through the registry alone: its attempts run, with no change to the daemon."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from notebooks import write_notebook
from project_files import FAST_EXECUTION_TOML, PATHS_TOML
from toy_executor import InProcessExecutor

from autoflow_watch.config import load_config
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
