"""The package's imports go one way, down the data flow (import-linter's layers contract in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process  # lint-imports

ROOT = Path(__file__).resolve().parents[2]


def lint_imports() -> str:
    found = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert found, "import-linter is in the test extra: pip install -e '.[test]'"
    return found


def test_every_layer_imports_only_the_layers_below_it():
    result = subprocess.run([lint_imports()], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def test_render_may_not_import_the_executor(tmp_path):
    """The contract bites: a copy of the package where render imports the executor is refused."""
    copy = tmp_path / "autoflow_watch"
    shutil.copytree(ROOT / "autoflow_watch", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "render" / "leak.py").write_text("from autoflow_watch.executor import job\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = subprocess.run(
        [lint_imports()], cwd=tmp_path, capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(tmp_path)}
    )
    assert result.returncode != 0
    assert "autoflow_watch.render.leak -> autoflow_watch.executor.job" in result.stdout
