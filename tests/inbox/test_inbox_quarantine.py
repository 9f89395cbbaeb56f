"""Bad markers: each kind is moved to rejected/ with a one-line reason; nothing bad stops the watch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from daemon_process import wait_for
from inbox_helpers import (
    BAD_KINDS,
    Logs,
    StartInbox,
    cannot_drop_dac_override,
    entries,
    fact_of,
    reason_of,
    wait_fact,
    without_dac_override,
)

from autoflow_watch.store import Store


@pytest.mark.parametrize(("name", "make", "says"), BAD_KINDS, ids=[kind[0] for kind in BAD_KINDS])
def test_bad_marker_is_quarantined_with_reason(
    start_inbox: StartInbox, store: Store, logs: Logs, name: str, make: Callable[[Path], None], says: list[str]
) -> None:
    source = start_inbox()
    make(source.inbox / name)
    wait_for(lambda: (source.rejected / f"{name}.reason").exists(), 30, what=f"{name} rejected")
    assert os.path.lexists(source.rejected / name), "the marker itself is kept beside its reason"
    reason = reason_of(source.rejected, name)
    assert reason.endswith("\n") and reason.count("\n") == 1, "one line"
    for fragment in says:
        assert fragment in reason
    assert entries(source.inbox) == [] and store.facts.count() == 0
    assert logs.named("inbox.marker.rejected", marker=name)[0]["log_level"] == "warning"
    assert source.healthy()


def test_exactly_64_kib_of_json_is_still_a_good_marker(start_inbox: StartInbox, store: Store) -> None:
    source = start_inbox()
    body = json.dumps({"pad": ""})
    content = json.dumps({"pad": "x" * (64 * 1024 - len(body))})
    assert len(content) == 64 * 1024
    (source.inbox / "calls_2026-11-24.ready").write_text(content, encoding="utf-8")
    fact, _ = wait_fact(store, "calls", "2026-11-24")
    assert len(fact.metadata["pad"]) == 64 * 1024 - len(body)


UNREADABLE_SCAN = """
import json, sys
from datetime import timedelta
from pathlib import Path
from autoflow_watch.config.model import InboxConfig
from autoflow_watch.sources.inbox.source import InboxSource
from autoflow_watch.store import Store
store = Store(sys.argv[2])
source = InboxSource(Path(sys.argv[1]), InboxConfig(settle=timedelta(0)), store.facts.record_batch)
result = source.scan()
print(json.dumps({"accepted": result.accepted, "rejected": result.rejected}))
"""


@pytest.mark.process  # the source runs under setpriv
@pytest.mark.skipif(cannot_drop_dac_override() is not None, reason=str(cannot_drop_dac_override()))
def test_unreadable_marker_is_quarantined_with_reason(inbox: Path, store: Store, tmp_path: Path) -> None:
    """Real permissions: the scan runs in a process that cannot bypass them (setpriv, when root)."""
    for folder in (inbox, inbox / "processed", inbox / "rejected"):
        folder.mkdir(parents=True, exist_ok=True)
    (inbox / "calls_2026-11-24.ready").write_text('{"rows": 1}', encoding="utf-8")
    (inbox / "calls_2026-11-24.ready").chmod(0)
    (inbox / "calls_2026-11-23.ready").write_text("", encoding="utf-8")
    scan = subprocess.run(
        [*without_dac_override(), sys.executable, "-c", textwrap.dedent(UNREADABLE_SCAN), str(inbox), store.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert scan.returncode == 0, scan.stderr
    assert json.loads(scan.stdout.splitlines()[-1]) == {"accepted": 1, "rejected": 1}
    reason = reason_of(inbox / "rejected", "calls_2026-11-24.ready")
    assert "is unreadable: Permission denied" in reason and "readable by the service user" in reason
    assert entries(inbox / "processed") == ["calls_2026-11-23.ready"]


def test_a_good_marker_after_every_bad_kind_is_still_processed(
    start_inbox: StartInbox, store: Store, tmp_path: Path
) -> None:
    source = start_inbox()
    for name, make, _ in BAD_KINDS:
        make(source.inbox / name)
    (source.inbox / "calls_2026-11-24.ready").write_text('{"rows": 3}', encoding="utf-8")
    fact, _ = wait_fact(store, "calls", "2026-11-24")
    assert fact.metadata == {"rows": 3}
    wait_for(lambda: len(list(source.rejected.glob("*.reason"))) == len(BAD_KINDS), 30, what="every reason file")
    wait_for(lambda: entries(source.inbox) == [], 10, what="the good marker's move to processed/ (after its fact)")
    assert store.facts.count() == 1 and source.healthy()


def test_hidden_and_temporary_names_are_left_alone(start_inbox: StartInbox, store: Store) -> None:
    source = start_inbox(settle=0)
    for name in (".calls_2026-11-24.ready", "calls_2026-11-24.ready.tmp", "upload.part", ".DS_Store"):
        (source.inbox / name).write_text("{half", encoding="utf-8")
    source.scan()
    assert entries(source.inbox) == sorted(
        [".DS_Store", ".calls_2026-11-24.ready", "calls_2026-11-24.ready.tmp", "upload.part"]
    )
    assert entries(source.rejected) == [] and store.facts.count() == 0


def test_name_collisions_in_processed_get_numbered_suffixes(start_inbox: StartInbox, store: Store) -> None:
    source = start_inbox()
    for rows in (1, 2, 3):
        (source.inbox / "calls_2026-11-24.ready").write_text(json.dumps({"rows": rows}), encoding="utf-8")
        wait_for(lambda rows=rows: len(entries(source.processed)) == rows, 30, what=f"delivery {rows} processed")
    assert entries(source.processed) == [
        "calls_2026-11-24.ready",
        "calls_2026-11-24.ready.1",
        "calls_2026-11-24.ready.2",
    ]
    contents = [json.loads((source.processed / n).read_text()) for n in entries(source.processed)]
    assert contents == [{"rows": 1}, {"rows": 2}, {"rows": 3}], "nothing overwritten"
    fact, deliveries = fact_of(store, "calls", "2026-11-24") or (None, 0)
    assert (fact.metadata, deliveries) == ({"rows": 3}, 3)


def test_name_collisions_in_rejected_get_numbered_suffixes_and_keep_each_reason(start_inbox: StartInbox) -> None:
    source = start_inbox()
    drops = [("notes.txt", "first"), ("notes.txt", "second"), ("notes.txt.reason", "third")]
    for count, (name, text) in enumerate(drops, start=1):
        (source.inbox / name).write_text(text, encoding="utf-8")
        wait_for(lambda c=count: len(list(source.rejected.glob("*.reason"))) == c, 30, what=f"{name} rejected")
    assert entries(source.rejected) == [
        "notes.txt",
        "notes.txt.1",
        "notes.txt.1.reason",
        "notes.txt.reason",
        "notes.txt.reason.1",
        "notes.txt.reason.1.reason",
    ]
    assert (source.rejected / "notes.txt").read_text() == "first"
    assert (source.rejected / "notes.txt.1").read_text() == "second"
    assert (source.rejected / "notes.txt.reason.1").read_text() == "third"
    assert "bad marker name 'notes.txt'" in reason_of(source.rejected, "notes.txt")
    assert "bad marker name 'notes.txt.reason'" in reason_of(source.rejected, "notes.txt.reason.1")


def test_a_fixed_marker_moved_back_from_rejected_is_accepted(start_inbox: StartInbox, store: Store) -> None:
    source = start_inbox()
    (source.inbox / "calls_2026-11-24.ready").write_text("{'rows': 5}", encoding="utf-8")
    wait_for(lambda: (source.rejected / "calls_2026-11-24.ready.reason").exists(), 30, what="the rejection")
    fixed = source.rejected / "calls_2026-11-24.ready"
    fixed.write_text('{"rows": 5}', encoding="utf-8")
    os.rename(fixed, source.inbox / fixed.name)
    (source.rejected / "calls_2026-11-24.ready.reason").unlink()
    fact, _ = wait_fact(store, "calls", "2026-11-24")
    assert fact.metadata == {"rows": 5} and entries(source.rejected) == []


def test_a_name_that_is_not_utf8_reads_as_utf8_in_its_reason(start_inbox: StartInbox) -> None:
    source = start_inbox()
    name = os.fsdecode(b"calls_\xff\xfe.ready")
    (source.inbox / name).touch()
    wait_for(lambda: (source.rejected / f"{name}.reason").exists(), 30, what="the reason")
    reason = (source.rejected / f"{name}.reason").read_bytes().decode("utf-8")  # UTF-8, strictly
    assert "bad marker name 'calls_\ufffd\ufffd.ready'" in reason, reason
    assert "\\udc" not in reason, "no Python surrogate escapes for people to decode"
