"""A report folder is replaced whole: a reader sees the old complete report or the new one.

The reader opens the folder once (as a copying tool does) and reads the manifest and every
file it lists from there; a file that does not match while the manifest is still the same is
a mix, a folder or manifest that is missing is "neither". Both are checked throughout many
republishes, with ``renameat2(RENAME_EXCHANGE)`` (this machine's ext4/tmpfs) and with the
report link that NFS and SMB mounts get (they answer EINVAL, simulated here).
"""

from __future__ import annotations

import datetime as dt
import errno
import os
from pathlib import Path

import pytest
from outbox_helpers import manifest, report_files
from report_reader import ReportReader

from autoflow_watch.publish import staged as staged_module
from autoflow_watch.publish import swap
from autoflow_watch.publish.outbox import apply_retention, publish_report, read_manifest
from autoflow_watch.publish.staged import SwapResult, stage_report, staged_reports, swap_in

DAY = "2026-11-24"
REPUBLISHES = 150


@pytest.fixture(params=["exchange", "link"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(swap, "_SUPPORT", {})
    if request.param == "link":

        def refuse(source: Path, target: Path) -> None:
            raise OSError(errno.EINVAL, "Invalid argument (as NFS and SMB answer)")

        monkeypatch.setattr(swap, "exchange", refuse)
        monkeypatch.setattr(staged_module, "exchange", refuse)
    return str(request.param)


def test_a_reader_never_sees_a_report_folder_missing_or_mixed_during_republishes(tmp_path: Path, mode: str) -> None:
    outbox = tmp_path / "outbox"
    versions = [report_files(tmp_path / f"v{i}", f"version {i} " * 2000) for i in range(2)]
    publish_report(outbox, "daily", DAY, versions[0], manifest("daily", DAY, "run-0"))
    folder = outbox / "daily" / DAY
    assert folder.is_symlink() is (mode == "link")
    reader = ReportReader(outbox, [folder])
    reader.seen.add(folder)
    reader.start()
    try:
        for i in range(1, REPUBLISHES + 1):
            publish_report(outbox, "daily", DAY, versions[i % 2], manifest("daily", DAY, f"run-{i}"))
    finally:
        reader.stop()
    assert reader.reads > REPUBLISHES, "the reader read throughout"
    assert reader.missing == [], f"the folder was missing {len(reader.missing)} times"
    assert reader.mixed == [], f"a mix was seen: {reader.mixed[:3]}"
    assert read_manifest(outbox, "daily", DAY)["run_id"] == f"run-{REPUBLISHES}"  # type: ignore[index]
    hidden = sorted(p.name for p in (outbox / "daily").iterdir() if p.name.startswith("."))
    assert hidden == ([f".{DAY}@run-{REPUBLISHES}"] if mode == "link" else []), "old versions are removed"
    assert list((outbox / ".staging").iterdir()) == [] and list((outbox / ".pending").iterdir()) == []


def test_a_staged_report_waits_until_swapped_and_a_swap_done_twice_changes_nothing(tmp_path: Path, mode: str) -> None:
    outbox = tmp_path / "outbox"
    publish_report(outbox, "daily", DAY, report_files(tmp_path / "old", "old"), manifest("daily", DAY, "run-1"))
    stage_report(outbox, "daily", DAY, report_files(tmp_path / "new", "new"), manifest("daily", DAY, "run-2"))
    assert read_manifest(outbox, "daily", DAY)["run_id"] == "run-1", "staged is not published"  # type: ignore[index]
    assert [s.run_id for s in staged_reports(outbox)] == ["run-2"]
    assert swap_in(outbox, "daily", DAY, "run-2") is SwapResult.SWAPPED
    assert swap_in(outbox, "daily", DAY, "run-2") is SwapResult.ALREADY, "recovery after the swap: nothing to do"
    assert read_manifest(outbox, "daily", DAY)["run_id"] == "run-2"  # type: ignore[index]
    assert "new" in (outbox / "daily" / DAY / "report.html").read_text()
    assert staged_reports(outbox) == []


def test_a_real_folder_becomes_a_report_link_once_where_exchange_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = tmp_path / "outbox"
    publish_report(outbox, "daily", DAY, report_files(tmp_path / "a", "a"), manifest("daily", DAY, "run-1"))
    assert not (outbox / "daily" / DAY).is_symlink()

    def refuse(source: Path, target: Path) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(staged_module, "exchange", refuse)
    monkeypatch.setattr(swap, "_SUPPORT", {})
    monkeypatch.setattr(swap, "exchange", refuse)
    publish_report(outbox, "daily", DAY, report_files(tmp_path / "b", "b"), manifest("daily", DAY, "run-2"))
    folder = outbox / "daily" / DAY
    assert os.readlink(folder) == f".{DAY}@run-2", "a relative link beside it: valid on every mount point"
    assert "b" in (folder / "report.html").read_text()
    publish_report(
        outbox, "daily", "2026-11-25", report_files(tmp_path / "c", "c"), manifest("daily", "2026-11-25", "r3")
    )
    removed = apply_retention(outbox, 1, dt.date(2027, 1, 1))
    assert removed == [folder], "the older report goes, the newest stays"
    assert sorted(p.name for p in (outbox / "daily").iterdir()) == [
        ".2026-11-25@r3",
        "2026-11-25",
        "latest.html",
        "latest.json",
    ], "the link went with its version folder"
