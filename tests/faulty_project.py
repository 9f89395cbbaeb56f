"""One-notebook projects whose cell misbehaves on purpose, for end-to-end fault tests."""

from __future__ import annotations

from pathlib import Path

from notebooks import write_notebook
from project_files import FAST_EXECUTION_TOML, PATHS_TOML


def single_notebook_project(
    folder: Path, cell: str, *, execution: str = "", workflow: str = "", formats: str = '["html"]'
) -> Path:
    """A workflow ``faulty`` with one report notebook running ``cell``; returns the config path."""
    write_notebook(folder / "notebooks" / "job.ipynb", 'reference_date = ""\nrun_id = ""', cell, title="# Faulty job")
    config = folder / "autoflow.toml"
    text = _override(
        f"""
{PATHS_TOML}
{FAST_EXECUTION_TOML}
[inbox]
settle = "0.2s"
rescan_interval = "2s"

[[workflow]]
name = "faulty"
datasets = ["calls"]
{workflow}

  [[workflow.notebook]]
  name = "job"
  path = "job.ipynb"
  report = {{ formats = {formats} }}
""",
        execution,
    )
    config.write_text(text, encoding="utf-8")
    (folder / "var" / "inbox").mkdir(parents=True, exist_ok=True)
    return config


def drop_marker(config: Path, day: str = "2026-11-24") -> None:
    (config.parent / "var" / "inbox" / f"calls_{day}.ready").touch()


def _override(text: str, settings: str) -> str:
    """Replace the default ``key = value`` lines of [execution] by the test's own, or add them."""
    for line in filter(None, (raw.strip() for raw in settings.splitlines())):
        key = line.split("=", 1)[0].strip()
        lines = text.splitlines()
        index = next((i for i, existing in enumerate(lines) if existing.startswith(f"{key} =")), None)
        if index is None:
            lines.insert(lines.index("[execution]") + 1, line)
        else:
            lines[index] = line
        text = "\n".join(lines) + "\n"
    return text
