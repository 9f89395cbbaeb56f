"""The daemon <-> worker protocol and the executor's outcomes, without a process or a kernel."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from autoflow_watch.executor.base import cut_short
from autoflow_watch.executor.events import (
    KernelAssigned,
    KernelGone,
    KernelHint,
    KernelStarted,
    ProtocolError,
    Rendering,
    Retire,
    RunCommand,
    RunFinished,
    StepChanged,
    StopReason,
    WorkerReady,
    decode,
)
from autoflow_watch.executor.job import KernelProfile, NotebookJob, NotebookOutcome, RunJob, WorkerResult
from autoflow_watch.vocabulary import AttemptOutcome, AttemptResult, Claim, StepState

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbmFseXN0In0.c2lnbmF0dXJlc2lnbmF0dXJl"


def job(**overrides: object) -> RunJob:
    fields: dict[str, object] = {
        "workflow": "daily",
        "reference_date": "2026-11-24",
        "run_id": "daily-2026-11-24-a1-abc",
        "attempt": 1,
        "started_at": 1_700_000_000.0,
        "date_ranges": [["2026-11-23", "2026-11-25"]],
        "parameters": {"region": "admin2"},
        "notebooks": [
            NotebookJob("aggregate", "/nb/aggregate.ipynb", [], ["reference_date"], "0" * 64),
            NotebookJob("report", "/nb/sub/report.ipynb", ["aggregate"], ["aggregate"], "1" * 64, ["html", "pdf"]),
        ],
        "work_dir": "/work/daily/2026-11-24/daily-2026-11-24-a1-abc",
        "kernel": "python3",
        "cell_timeout_s": 600.0,
        "run_timeout_s": 3600.0,
        "kernel_start_timeout_s": 60.0,
        "flowapi_token": True,
    }
    fields.update(overrides)
    return RunJob(**fields)  # type: ignore[arg-type]


RESULT = WorkerResult(
    outcome=AttemptOutcome.FAILED,
    notebooks=[NotebookOutcome("aggregate", "0" * 64, 1.5, "/work/aggregate.ipynb")],
    error_type="ValueError",
    error="boom",
    failing_notebook="report",
    failing_cell=3,
)

MESSAGES = [
    KernelHint([KernelProfile("python3", "/nb", True), KernelProfile("ir", "/nb/r")], TOKEN),
    RunCommand(job(), TOKEN),
    RunCommand(job(flowapi_token=False), None),
    Retire(),
    WorkerReady(41),
    KernelStarted(42),
    KernelGone(42),
    KernelAssigned("aggregate", 42, warm=True),
    StepChanged("aggregate", StepState.SUCCEEDED, duration_s=1.5),
    StepChanged("report", StepState.FAILED, error="ValueError: boom"),
    Rendering("report", ["html", "pdf"]),
    RunFinished(RESULT, retire=True),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_is_one_json_line_and_comes_back_equal(message):
    line = message.to_line()
    assert line.endswith("\n") and "\n" not in line[:-1]
    assert json.loads(line)["type"] == message.kind
    assert decode(line) == message
    assert decode(line.encode()) == message


def test_decoded_enums_and_records_are_typed_not_strings():
    step = decode(StepChanged("a", StepState.RUNNING).to_line())
    assert isinstance(step, StepChanged) and step.state is StepState.RUNNING
    finished = decode(RunFinished(RESULT).to_line())
    assert isinstance(finished, RunFinished) and finished.result.outcome is AttemptOutcome.FAILED
    command = decode(RunCommand(job(), TOKEN).to_line())
    assert isinstance(command, RunCommand) and isinstance(command.job.notebooks[1], NotebookJob)


def test_the_token_is_in_no_repr_or_str_of_a_message():
    for message in (RunCommand(job(), TOKEN), KernelHint([KernelProfile("python3", "/nb", True)], TOKEN)):
        assert TOKEN not in repr(message) and TOKEN not in str(message)


@pytest.mark.parametrize(
    "line",
    ["", "not json", "[]", '{"no": "type"}', '{"type": "unknown"}', '{"type": "kernel_started"}'],
)
def test_a_line_that_is_not_a_message_is_a_protocol_error(line):
    with pytest.raises(ProtocolError):
        decode(line)


def test_unknown_fields_from_a_newer_worker_are_ignored():
    assert decode('{"type": "kernel_started", "pid": 7, "since": "later"}') == KernelStarted(7)


CLAIM = Claim(1, "daily", dt.date(2026, 11, 24), "daily-2026-11-24-a1-abc", 1, 1_700_000_000.0)


@pytest.mark.parametrize(
    ("reason", "outcome", "error_type"),
    [
        (StopReason.INTERRUPTED, AttemptOutcome.INTERRUPTED, "Interrupted"),
        (StopReason.RUN_TIMEOUT, AttemptOutcome.FAILED, "RunTimeout"),
        (StopReason.LEASE_LOST, AttemptOutcome.FAILED, "LeaseLost"),
        (None, AttemptOutcome.FAILED, "WorkerDied"),
    ],
)
def test_an_attempt_cut_short_says_why_and_whether_it_counts(reason, outcome, error_type):
    execution = cut_short(CLAIM, job(), reason, [42], 1_700_000_100.0)
    assert (execution.attempt.outcome, execution.attempt.error_type) == (outcome, error_type)
    assert execution.result is None, "nothing a killed worker made is trusted"
    assert execution.kernel_pids == [42]


def test_a_run_timeout_names_its_limit():
    execution = cut_short(CLAIM, job(run_timeout_s=4.0), StopReason.RUN_TIMEOUT, [], 0.0)
    assert "run_timeout of 4s" in (execution.attempt.error or "")


def test_attempt_results_take_the_outcome_as_a_string_too():
    assert AttemptResult("interrupted").outcome is AttemptOutcome.INTERRUPTED
    with pytest.raises(ValueError):
        AttemptResult("exploded")


def test_a_notebook_needs_the_kernel_of_its_folder_and_its_workflow_token_rule():
    run = job()
    assert run.kernel_profiles() == [KernelProfile("python3", "/nb", True), KernelProfile("python3", "/nb/sub", True)]
    assert job(flowapi_token=False).kernel_profile(run.notebooks[0]).with_token is False
