"""Publishing into the outbox: manifest last, stale files gone, _failed layout, latest.json (pages: test_portal)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from outbox_helpers import MANIFEST_KEYS, manifest, report_files

from autoflow_watch.publish.latest import write_latest
from autoflow_watch.publish.outbox import SCHEMA_VERSION, publish_failure, publish_report, read_manifest


def test_report_folder_is_staged_whole_and_renamed_into_place_in_one_step(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    files = report_files(tmp_path / "work")
    folder = publish_report(outbox, "daily-report", "2026-11-24", files, manifest("daily-report", "2026-11-24"))

    assert folder == outbox / "daily-report" / "2026-11-24"
    assert folder.is_dir() and not folder.is_symlink(), "this filesystem exchanges: a real folder"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "report.html", "report.pdf"]
    assert json.loads((outbox / "daily-report" / "latest.json").read_text())["reference_date"] == "2026-11-24"
    assert list((outbox / ".staging").iterdir()) == [], "nothing is left in the staging area"
    assert list((outbox / ".pending").iterdir()) == [], "nothing is left waiting"


def test_manifest_has_the_documented_keys_and_describes_every_output(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    files = report_files(tmp_path / "work", names=("report.html", "report.pdf", "report.ipynb"))
    publish_report(outbox, "daily-report", "2026-11-24", files, manifest("daily-report", "2026-11-24", "run-9"))
    document = read_manifest(outbox, "daily-report", "2026-11-24")
    assert document is not None
    assert set(document) == MANIFEST_KEYS
    assert document["schema_version"] == SCHEMA_VERSION == 1
    assert document["run_id"] == "run-9"
    folder = outbox / "daily-report" / "2026-11-24"
    for output in document["outputs"]:
        data = (folder / output["path"]).read_bytes()
        assert output["bytes"] == len(data)
        assert output["sha256"] == hashlib.sha256(data).hexdigest()
    assert [o["path"] for o in document["outputs"]] == ["report.html", "report.pdf", "report.ipynb"]


def test_republishing_replaces_the_folder_whole_without_the_files_the_new_report_lacks(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    first = report_files(tmp_path / "one", "old", ("report.html", "report.pdf", "extra.html"))
    publish_report(outbox, "daily-report", "2026-11-24", first, manifest("daily-report", "2026-11-24", "run-1"))
    second = report_files(tmp_path / "two", "new", ("report.html", "report.pdf"))
    publish_report(outbox, "daily-report", "2026-11-24", second, manifest("daily-report", "2026-11-24", "run-2"))
    folder = outbox / "daily-report" / "2026-11-24"
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "report.html", "report.pdf"]
    assert "new" in (folder / "report.html").read_text()
    assert read_manifest(outbox, "daily-report", "2026-11-24")["run_id"] == "run-2"  # type: ignore[index]
    assert list((outbox / ".staging").iterdir()) == [], "the old folder, exchanged out, is gone"


@pytest.mark.parametrize("name", ["manifest.json", "latest.json", "error.txt", ".hidden.html"])
def test_reserved_or_hidden_names_are_refused(tmp_path: Path, name: str) -> None:
    [bad] = report_files(tmp_path / "work", names=(name,))
    with pytest.raises(ValueError, match="reserved, hidden"):
        publish_report(tmp_path / "outbox", "w", "2026-11-24", [bad], manifest("w", "2026-11-24"))


@pytest.mark.parametrize(("workflow", "date"), [("../etc", "2026-11-24"), ("w", "24-11-2026"), (".w", "2026-11-24")])
def test_a_workflow_or_date_that_is_not_one_plain_folder_name_is_refused(
    tmp_path: Path, workflow: str, date: str
) -> None:
    files = report_files(tmp_path / "work")
    with pytest.raises(ValueError):
        publish_report(tmp_path / "outbox", workflow, date, files, manifest(workflow, date))
    assert not (tmp_path / "etc").exists()


def test_a_failed_attempt_is_filed_whole_under_failed_workflow_date_run_id(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    files = report_files(tmp_path / "work", names=("report.ipynb", "report.html"))
    folder = publish_failure(outbox, "daily-report", "2026-11-24", "run-3", files, "RuntimeError: no rows\n")
    assert folder == outbox / "_failed" / "daily-report" / "2026-11-24" / "run-3"
    assert sorted(p.name for p in folder.iterdir()) == ["error.txt", "report.html", "report.ipynb"]
    assert (folder / "error.txt").read_text() == "RuntimeError: no rows\n"
    assert not (outbox / "daily-report").exists(), "a failure publishes no report"
    assert read_manifest(outbox, "daily-report", "2026-11-24") is None


def test_latest_json_points_at_the_newest_complete_report_not_one_being_published(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    for day in ("2026-11-23", "2026-11-24", "2026-11-22"):
        publish_report(outbox, "daily-report", day, report_files(tmp_path / day), manifest("daily-report", day, day))
    (outbox / "daily-report" / "2026-11-25").mkdir()  # being published: no manifest yet
    (outbox / "daily-report" / "2026-11-25" / "report.html").write_text("half")
    pointer = write_latest(outbox, "daily-report")
    on_disk = json.loads((outbox / "daily-report" / "latest.json").read_text())
    assert pointer == on_disk
    assert on_disk == {
        "schema_version": 1,
        "workflow": "daily-report",
        "reference_date": "2026-11-24",
        "run_id": "2026-11-24",
        "finished_at": on_disk["finished_at"],
        "folder": "2026-11-24/",
        "manifest": "2026-11-24/manifest.json",
        "outputs": ["2026-11-24/report.html", "2026-11-24/report.pdf"],
    }
    for relative in [on_disk["manifest"], *on_disk["outputs"]]:
        assert (outbox / "daily-report" / relative).is_file()
    forward = (outbox / "daily-report" / "latest.html").read_text()
    assert '<meta http-equiv="refresh" content="0; url=2026-11-24/report.html">' in forward
    assert "<script" not in forward


def test_a_failed_attempts_notebook_is_filed_without_secrets_or_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    token = "flowapi-token-value-0123456789"
    monkeypatch.setenv("FLOWAPI_TOKEN", token)
    work = "/var/lib/autoflow-watch/work/nightly/2026-11-24/run-f"
    injected = new_code_cell(f'db_password = "hunter2-secret"\nupstream = "{work}/load.ipynb"')
    injected.metadata["tags"] = ["injected-parameters"]
    printed = new_code_cell("print(os.environ)", outputs=[new_output("stream", name="stdout", text=f"T={token}")])
    nb = new_notebook(cells=[injected, printed])
    nb.metadata["papermill"] = {
        "input_path": "/srv/notebooks/check.ipynb",
        "output_path": f"{work}/check.ipynb",
        "parameters": {"db_password": "hunter2-secret", "upstream": f"{work}/load.ipynb"},
    }
    source = tmp_path / "work" / "check.ipynb"
    source.parent.mkdir()
    nbformat.write(nb, str(source))
    folder = publish_failure(tmp_path / "outbox", "nightly", "2026-11-24", "run-f", [source], "boom")
    text = (folder / "check.ipynb").read_text(encoding="utf-8")
    for leaked in (token, "hunter2-secret", "/var/lib/autoflow-watch", "/srv/notebooks"):
        assert leaked not in text, leaked
    assert nbformat.reads(text, as_version=4).metadata["papermill"]["input_path"] == "check.ipynb"


def test_a_failed_notebook_that_is_not_json_is_still_filed_with_its_secrets_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "flowapi-token-value-0123456789"
    monkeypatch.setenv("FLOWAPI_TOKEN", token)
    source = tmp_path / "check.ipynb"
    source.write_text(f'{{"cells": [{{"outputs": "T={token}', encoding="utf-8")  # cut off mid-write
    folder = publish_failure(tmp_path / "outbox", "nightly", "2026-11-24", "run-f", [source], "boom")
    text = (folder / "check.ipynb").read_text(encoding="utf-8")
    assert token not in text and "[redacted]" in text
