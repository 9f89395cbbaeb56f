"""The failure page's words and its secrets (the real runs are in tests/e2e/test_portal_runs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoflow_watch.publish.failure_page import FailureFacts, FailureKind, classify, failure_page
from autoflow_watch.secrets import register_secret

SECRET = "s3cr3t-token-value-for-the-test"


def facts(tmp_path: Path, error_type: str, error: str, **extra: object) -> FailureFacts:
    base = FailureFacts(
        "daily", "2026-11-24", "run-1", 2, error_type, error, "report", 1, "", {}, 60.0, 3600.0, files=["error.txt"]
    )
    for key, value in extra.items():
        setattr(base, key, value)
    return base


@pytest.mark.parametrize(
    ("error_type", "error", "kind"),
    [
        ("ValueError", "no rows", FailureKind.CELL_ERROR),
        ("MemoryError", "", FailureKind.OUT_OF_MEMORY),
        ("DeadKernelError", "Kernel died", FailureKind.KERNEL_DIED),
        (
            "CellTimeoutError",
            "A cell timed out while it was being executed, after 60 seconds.",
            FailureKind.CELL_TIMEOUT,
        ),
        ("RunTimeout", "run exceeded run_timeout of 3600s; kernels killed", FailureKind.RUN_TIMEOUT),
        ("WorkerDied", "worker process died before finishing", FailureKind.WORKER_DIED),
        ("PublishError", "publishing to the outbox failed: disk full", FailureKind.NOT_PUBLISHED),
    ],
)
def test_each_way_an_attempt_fails_has_its_own_words(
    tmp_path: Path, error_type: str, error: str, kind: FailureKind
) -> None:
    failed = facts(tmp_path, error_type, error)
    assert classify(failed) is kind
    assert f"<h1>{kind.value}: daily, 2026-11-24</h1>" in failure_page(failed)


def test_memory_that_ran_out_while_the_error_was_formatted_is_still_out_of_memory(tmp_path: Path) -> None:
    """IPython itself may fail to format a MemoryError when the cell left no memory: the last error counts."""
    traceback = (
        'File ".../IPython/core/ultratb.py", line 903, in get_records\n'
        'File "<frozen posixpath>", line 451, in _joinrealpath\nMemoryError\n'
    )
    failed = facts(tmp_path, "AttributeError", "", traceback=traceback)
    assert classify(failed) is FailureKind.OUT_OF_MEMORY


def test_secrets_are_redacted_wherever_they_would_appear_on_the_page(tmp_path: Path) -> None:
    register_secret(SECRET)
    notebook = tmp_path / "report.ipynb"
    cells = [
        {"cell_type": "code", "source": "x = 1", "metadata": {}, "outputs": []},
        {
            "cell_type": "code",
            "source": f"token = '{SECRET}'\nraise ValueError(token)",
            "metadata": {"papermill": {"status": "failed"}},
            "outputs": [{"output_type": "stream", "name": "stderr", "text": f"using {SECRET}\n"}],
        },
    ]
    notebook.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4}), encoding="utf-8")
    log = tmp_path / "report.kernel.log"
    log.write_text(f"kernel says {SECRET}\n", encoding="utf-8")
    failed = facts(
        tmp_path,
        "ValueError",
        SECRET,
        failing_cell=None,
        traceback=f"ValueError: {SECRET}",
        notebook_file=notebook,
        kernel_log=log,
        parameters={"api_token": "[redacted]", "region": SECRET},
    )
    page = failure_page(failed)
    assert SECRET not in page
    assert page.count("[redacted]") >= 5
    assert "using [redacted]" in page and "kernel says [redacted]" in page, "stderr and the kernel's log are shown"
    assert failed.failing_cell == 1, "the failing cell found from papermill's marks"


def test_what_error_txt_says_about_the_sandbox_is_said_where_it_says_what_happened(tmp_path: Path) -> None:
    text = "workflow: daily\nerror: PermissionError: [Errno 13] Permission denied: '/srv/x'\n"
    text += 'sandbox: the sandbox blocked reading /srv/x; read_paths = ["/srv/x"] grants it\n'
    page = failure_page(facts(tmp_path, "PermissionError", "[Errno 13] Permission denied", error_text=text))
    what = page[page.index('<div class="what"') :].split("</div>")[0]
    assert "the sandbox blocked reading /srv/x" in what and "read_paths" in what
