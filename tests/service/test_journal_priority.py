"""Log lines carry a syslog priority prefix when stderr is the journal, so ``journalctl -p`` works.

journald reads ``<N>`` at the start of a line as its priority and strips it (sd-daemon(3),
SyslogLevelPrefix=yes by default). Only a stderr that *is* the journal stream named by
``$JOURNAL_STREAM`` gets prefixes: everywhere else a line stays pure JSON.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import pytest
import structlog
from project_files import make_project

from autoflow_watch import logs


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure() is process-wide: put back what other tests in this process expect."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


def journal_env(path: Path) -> dict[str, str]:
    """What systemd sets when ``path``'s file is the service's stderr stream."""
    info = os.stat(path)
    return {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}


def log_every_level(stream: TextIO) -> list[str]:
    logs.configure("debug", stream=stream)
    log = logs.get_logger("autoflow_watch.test")
    log.debug("a.debug")
    log.info("an.info")
    log.warning("a.warning", workflow="daily")
    log.error("an.error")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("an.exception")
    log.critical("a.critical")
    logging.getLogger("papermill").warning("a stdlib warning")
    stream.flush()
    stream.seek(0)
    return stream.read().splitlines()


def split_prefix(line: str) -> tuple[int, dict[str, Any]]:
    assert line.startswith("<") and line[2] == ">", line
    return int(line[1]), json.loads(line[3:])


def test_each_level_gets_its_syslog_priority_when_stderr_is_the_journal(tmp_path, monkeypatch):
    path = tmp_path / "journal-stream"
    with path.open("w+", encoding="utf-8") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", journal_env(path)["JOURNAL_STREAM"])
        lines = log_every_level(stream)
    priorities = {event["event"]: priority for priority, event in map(split_prefix, lines)}
    assert priorities == {
        "a.debug": 7,
        "an.info": 6,
        "a.warning": 4,
        "an.error": 3,
        "an.exception": 3,
        "a.critical": 2,
        "a stdlib warning": 4,
    }
    exception = next(split_prefix(line)[1] for line in lines if "an.exception" in line)
    assert "RuntimeError: boom" in exception["exception"], "a traceback stays inside its one JSON line"


@pytest.mark.parametrize("journal_stream", ["", "garbage", "OTHER"])
def test_lines_stay_plain_json_unless_stderr_is_that_very_stream(tmp_path, monkeypatch, journal_stream):
    other = tmp_path / "other"
    other.write_text("")
    if journal_stream == "OTHER":  # inherited from the service, but stderr was redirected since
        journal_stream = journal_env(other)["JOURNAL_STREAM"]
    monkeypatch.setenv("JOURNAL_STREAM", journal_stream)
    with (tmp_path / "stderr").open("w+", encoding="utf-8") as stream:
        lines = log_every_level(stream)
    assert [json.loads(line)["level"] for line in lines] == [
        "debug",
        "info",
        "warning",
        "error",
        "error",
        "critical",
        "warning",
    ]


def test_a_stream_without_a_descriptor_is_never_the_journal(monkeypatch):
    import io

    monkeypatch.setenv("JOURNAL_STREAM", "1:1")
    assert not logs.stream_is_journal(io.StringIO())


def run_cli(args: list[str], stderr_path: Path) -> subprocess.CompletedProcess[str]:
    stderr_path.touch()
    with stderr_path.open("w", encoding="utf-8") as stderr:
        return subprocess.run(
            [sys.executable, "-m", "autoflow_watch", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=120,
            env={**os.environ, **journal_env(stderr_path)},
        )


@pytest.mark.process  # the CLI
def test_config_errors_are_at_priority_err_in_the_journal(tmp_path):
    config = tmp_path / "autoflow.toml"
    config.write_text('[paths]\nnotebooks = "nb"\nbogus_key = 1\n', encoding="utf-8")
    stderr = tmp_path / "stderr"
    result = run_cli(["validate", "--config", str(config)], stderr)
    assert result.returncode == 2
    lines = stderr.read_text(encoding="utf-8").splitlines()
    assert lines and all(line.startswith("<3>config error: ") for line in lines), lines


@pytest.mark.process  # the CLI
def test_status_json_stays_pure_json_on_stdout_under_journald(tmp_path):
    project = make_project(tmp_path)
    stderr = tmp_path / "stderr"
    result = run_cli(["status", "--config", str(project / "autoflow.toml"), "--json"], stderr)
    assert result.returncode == 0, stderr.read_text(encoding="utf-8")
    assert json.loads(result.stdout) == []
    for line in stderr.read_text(encoding="utf-8").splitlines():
        split_prefix(line)  # every log line is "<N>{json}"


def test_a_logger_made_before_configure_follows_the_configuration(tmp_path: Path) -> None:
    early = logs.get_logger("autoflow_watch.early")  # as a module-level logger is, at import
    with (tmp_path / "stderr").open("w+", encoding="utf-8") as stream:
        logs.configure("info", stream=stream, json_lines=True)
        early.info("an.early.line", workflow="daily", reference_date="2026-11-24")
        stream.seek(0)
        [line] = [json.loads(text) for text in stream.read().splitlines()]
    assert line["event"] == "an.early.line" and line["logger"] == "autoflow_watch.early"
    assert (line["run_id"], line["notebook"]) == (None, None), "a line about a run names all its keys"
