"""The outbox's pages from the store and the disk: history, figures, index.json, feed, atomic and incremental."""

from __future__ import annotations

import html
import json
import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from outbox_helpers import manifest, report_files
from portal_store import RunRow, insert_runs

from autoflow_watch.publish import staging
from autoflow_watch.publish.outbox import publish_failure, publish_report
from autoflow_watch.publish.portal import refresh_pages
from autoflow_watch.publish.portal_json import PORTAL_SCHEMA
from autoflow_watch.publish.scraps import scalar_scraps
from autoflow_watch.render.csp import script_hash
from autoflow_watch.store import Store

ATOM = "{http://www.w3.org/2005/Atom}"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "outbox.md"
DAYS = ("2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24")


@pytest.fixture
def store(tmp_path: Path):
    handle = Store(f"sqlite:///{tmp_path}/state/autoflow.db")
    yield handle
    handle.close()


def fill(root: Path, store: Store) -> Path:
    """Reports with figures, a running date, a failed and a dead one with filed attempts; pages written."""
    outbox, now = root / "outbox", time.time()
    rows = []
    for i, day in enumerate(DAYS):
        publish_report(outbox, "daily-report", day, report_files(root / "w" / day), manifest("daily-report", day, day))
        scraps = {"report": {"calls": 4_000_000 + 100_000 * i, "region": "admin2"}}
        finished = now - 86400 * (5 - i)
        rows.append(RunRow("daily-report", day, "succeeded", 1, day, finished - 83, finished, scraps=scraps))
    rows.append(RunRow("daily-report", "2026-11-25", "running", started_at=now - 10))
    failed = report_files(root / "w" / "failed", names=("check.ipynb", "check.html"))
    publish_failure(outbox, "nightly", "2026-11-24", "run-f", failed, "RuntimeError: no rows")
    for run_id in ("run-d1", "run-d2"):
        publish_failure(outbox, "nightly", "2026-11-23", run_id, failed[:1], "KeyError: 'x'")
    rows.append(
        RunRow("nightly", "2026-11-24", "failed", 1, "run-f", now - 9, now, "RuntimeError: <no rows>\nTb", ["run-f"])
    )
    rows.append(
        RunRow("nightly", "2026-11-23", "dead", 2, "run-d2", now - 99, now - 90, "KeyError: 'x'", ["run-d1", "run-d2"])
    )
    insert_runs(store, rows)
    refresh_pages(outbox, store.runs.portal, ["daily-report", "nightly"])
    return outbox


def test_history_lists_every_date_newest_first_with_states_links_and_figures(tmp_path: Path, store: Store) -> None:
    outbox = fill(tmp_path, store)
    page = (outbox / "daily-report" / "index.html").read_text(encoding="utf-8")
    assert re.findall(r'<td class="date" data-label="Date">([\d-]+)</td>', page) == ["2026-11-25", *reversed(DAYS)]
    for link in ("../daily-report/2026-11-24/report.html", "../daily-report/2026-11-24/report.pdf"):
        assert f'href="{link}"' in page
    assert "4,400,000" in page and "(+2.3 %)" in page, "each number with its change against the previous date"
    assert page.count("admin2") == 5 and "1 min 23 s" in page
    nightly = (outbox / "nightly" / "index.html").read_text(encoding="utf-8")
    assert 'href="../_failed/nightly/2026-11-23/run-d2/check.ipynb"' in nightly
    assert "attempt 1" in nightly and "attempt 2" in nightly
    assert "RuntimeError: &lt;no rows&gt;" in nightly, "the error's first line, escaped"
    for state in ("failed", "dead"):
        assert f'<span class="state {state}"><span class="g" aria-hidden="true">' in nightly, "a mark, not colour alone"


def test_index_json_follows_its_schema_and_the_docs_describe_every_key(tmp_path: Path, store: Store) -> None:
    outbox = fill(tmp_path, store)
    data = json.loads((outbox / "index.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, PORTAL_SCHEMA)
    assert [w["name"] for w in data["workflows"]] == ["daily-report", "nightly"]
    daily = data["workflows"][0]
    assert daily["dates"][1]["scraps"] == {"report": {"calls": 4_400_000, "region": "admin2"}}
    assert daily["newest_complete"] == "2026-11-24" and daily["counts"]["succeeded"] == 5
    for workflow in data["workflows"]:
        for date in workflow["dates"]:
            for path in [*(date["report"] or {}).get("files", []), *(a["page"] for a in date["failed_attempts"])]:
                assert path is None or (outbox / path).is_file(), path
    docs = DOCS.read_text(encoding="utf-8")
    keys = set(PORTAL_SCHEMA["required"]) | set(PORTAL_SCHEMA["$defs"]["date"]["required"])
    keys |= set(PORTAL_SCHEMA["properties"]["workflows"]["items"]["required"])
    assert {k for k in keys if f"`{k}`" not in docs} == set(), "docs/outbox.md describes every key"


def test_the_feed_is_atom_with_its_required_elements_and_links_relative_to_it(tmp_path: Path, store: Store) -> None:
    outbox = fill(tmp_path, store)
    for workflow, expected in (("daily-report", 5), ("nightly", 1)):
        feed = ET.parse(outbox / workflow / "feed.xml").getroot()
        assert feed.tag == f"{ATOM}feed"
        for name in ("id", "title", "updated", "author"):
            assert feed.find(f"{ATOM}{name}") is not None, name
        entries = feed.findall(f"{ATOM}entry")
        assert len(entries) == expected, "published reports and dead runs, not running or failed ones"
        for entry in entries:
            assert all(entry.find(f"{ATOM}{n}") is not None for n in ("id", "title", "updated"))
            href = entry.find(f"{ATOM}link").get("href")  # type: ignore[union-attr]
            target = href.split("#")[0]
            assert not href.startswith(("/", "http")) and (outbox / workflow / target).resolve().is_file(), href


def test_more_than_fifty_published_reports_give_the_newest_fifty(tmp_path: Path, store: Store) -> None:
    outbox = tmp_path / "outbox"
    for n in range(60):
        day = f"2026-{1 + n // 28:02d}-{1 + n % 28:02d}"
        (outbox / "w" / day).mkdir(parents=True)
        (outbox / "w" / day / "manifest.json").write_text("{}")
        (outbox / "w" / day / "r.html").write_text("<p>r</p>")
        insert_runs(store, [RunRow("w", day, "succeeded", finished_at=1.8e9 + n, started_at=1.8e9)])
    refresh_pages(outbox, store.runs.portal, ["w"])
    entries = ET.parse(outbox / "w" / "feed.xml").getroot().findall(f"{ATOM}entry")
    assert len(entries) == 50
    assert entries[0].find(f"{ATOM}link").get("href") == "2026-03-04/r.html"  # type: ignore[union-attr]


def test_pages_know_folders_the_records_do_not_and_show_what_retention_removed(tmp_path: Path, store: Store) -> None:
    outbox = fill(tmp_path, store)
    (outbox / "daily-report" / "2026-11-26").mkdir()  # interrupted publication: no manifest
    staging.discard(outbox, outbox / "daily-report" / "2026-11-20")  # as retention removes a report
    refresh_pages(outbox, store.runs.portal, [], changed=["daily-report"])
    page = (outbox / "daily-report" / "index.html").read_text(encoding="utf-8")
    assert '<td class="date" data-label="Date">2026-11-26</td>' in page and "being published" in page
    row = page[page.index('id="d-2026-11-20"') :].split("</tr>")[0]
    assert "removed (keep_days)" in row and "report.html" not in row
    assert "4,000,000" in row, "the figures outlive the report"
    data = json.loads((outbox / "index.json").read_text(encoding="utf-8"))
    dates = {d["reference_date"]: d for d in data["workflows"][0]["dates"]}
    assert dates["2026-11-20"]["report_removed"] and dates["2026-11-26"]["state"] == "incomplete"


def test_after_a_run_only_its_workflows_pages_and_the_overview_are_rewritten_through_staging(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = fill(tmp_path, store)
    moves: list[tuple[str, str]] = []
    real_replace = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        moves.append((Path(src).parent.name, str(Path(dst).relative_to(outbox))))
        real_replace(src, dst)

    monkeypatch.setattr(staging.os, "replace", replace)
    refresh_pages(outbox, store.runs.portal, ["daily-report", "nightly"], changed=["nightly"])
    assert {source for source, _ in moves} == {".staging"}, "every page renamed into place from the staging area"
    assert sorted(target for _, target in moves) == [
        "index.html",
        "index.json",
        "nightly/feed.xml",
        "nightly/index.html",
        "nightly/index.json",
    ]


def test_every_page_carries_the_csp_first_with_its_script_allowed_by_hash_and_nothing_remote(
    tmp_path: Path, store: Store
) -> None:
    outbox = fill(tmp_path, store)
    overview = (outbox / "index.html").read_text(encoding="utf-8")
    [script] = re.findall(r"<script>(.*?)</script>", overview, re.S)
    assert script_hash(script) in html.unescape(overview)
    for page in (overview, (outbox / "daily-report" / "index.html").read_text(encoding="utf-8")):
        head = page[page.index("<head>") + len("<head>") :]
        assert head.startswith('<meta http-equiv="Content-Security-Policy"')
        assert "connect-src 'none'" in html.unescape(head.split(">")[0])
        assert not re.search(r'(?:src|href)="(?:https?:)?//', page), "no remote load, relative links only"


def test_the_overview_inlines_index_json_for_the_search_box(tmp_path: Path, store: Store) -> None:
    outbox = fill(tmp_path, store)
    overview = (outbox / "index.html").read_text(encoding="utf-8")
    inline = re.search(r'<script type="application/json" id="portal-data">(.*?)</script>', overview, re.S)
    assert inline is not None
    assert json.loads(inline.group(1))["workflows"] == json.loads((outbox / "index.json").read_text())["workflows"]


def test_scalar_scraps_are_read_from_an_executed_notebooks_glue_outputs(tmp_path: Path) -> None:
    def glued(name: str, data: object, encoder: str = "json") -> dict[str, object]:
        payload = {"name": name, "data": data, "encoder": encoder, "version": 1}
        return {
            "output_type": "display_data",
            "data": {f"application/scrapbook.scrap.{encoder}+json": payload},
            "metadata": {"scrapbook": {"name": name, "data": True, "display": False}},
        }

    outputs = [glued("calls", 10), glued("share", 0.5), glued("note", "ok", "text"), glued("rows", [1, 2])]
    outputs += [glued("calls", 12), glued("long", "x" * 500)]
    notebook = {"cells": [{"cell_type": "code", "source": "", "outputs": outputs}], "nbformat": 4, "metadata": {}}
    path = tmp_path / "report.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    assert scalar_scraps(path) == {"calls": 12, "share": 0.5, "note": "ok"}
    assert scalar_scraps(tmp_path / "missing.ipynb") == {}


REBUILDER = """
import sys
from pathlib import Path
from autoflow_watch.publish.portal import refresh_pages
from autoflow_watch.store import Store
store = Store(sys.argv[1])
for _ in range(int(sys.argv[3])):
    refresh_pages(Path(sys.argv[2]), store.runs.portal, ["daily-report", "nightly"])
store.close()
"""


@pytest.mark.process
def test_daemons_rebuilding_the_same_pages_at_once_never_show_a_reader_a_torn_page(
    tmp_path: Path, store: Store
) -> None:
    import subprocess
    import sys

    outbox = fill(tmp_path, store)
    writers = [
        subprocess.Popen([sys.executable, "-c", REBUILDER, store.url, str(outbox), "15"], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    reads = 0
    while any(w.poll() is None for w in writers) or reads == 0:
        for page in ("index.html", "daily-report/index.html", "nightly/index.html", "daily-report/feed.xml"):
            text = (outbox / page).read_text(encoding="utf-8")
            assert text.rstrip().endswith(("</html>", "</feed>")), f"{page} read half-written"
        for data in ("index.json", "daily-report/index.json"):
            json.loads((outbox / data).read_text(encoding="utf-8"))
        reads += 1
    assert [w.wait(timeout=300) for w in writers] == [0, 0], [w.stderr.read() for w in writers if w.stderr]
    assert reads > 1


def test_retention_rebuilds_the_pages_of_the_workflows_it_removed_from(tmp_path: Path) -> None:
    from autoflow_watch.daemon.outbox_index import workflows_of

    outbox = tmp_path / "outbox"
    removed = [outbox / "daily" / "2026-01-01", outbox / "_failed" / "nightly" / "2026-01-01" / "run-1"]
    assert workflows_of(outbox, removed) == {"daily", "nightly"}


def test_junk_in_the_outbox_is_left_out_of_the_pages_and_stops_nothing(tmp_path: Path, store: Store) -> None:
    outbox = fill(tmp_path, store)
    (outbox / "daily-report" / "2026-13-45").mkdir()  # shaped like a date, not one
    (outbox / "daily-report" / "notes.txt").write_text("hello")
    (outbox / "_failed" / "nightly" / "2026-11-24" / "stray.txt").write_text("x")
    (outbox / "_failed" / "stray-file").write_text("x")
    (outbox / "weekly").write_text("a file where a workflow's folder would be")
    insert_runs(store, [RunRow("daily-report", "2026-11-19", "succeeded", started_at=1.0, finished_at=2.0)])
    refresh_pages(outbox, store.runs.portal, ["daily-report", "nightly", "weekly"])
    page = (outbox / "daily-report" / "index.html").read_text(encoding="utf-8")
    assert "2026-13-45" not in page and "notes.txt" not in page
    assert 'id="d-2026-11-19"' in page, "the pages were rebuilt"
    workflows = {w["name"]: w for w in json.loads((outbox / "index.json").read_text())["workflows"]}
    assert sorted(workflows) == ["daily-report", "nightly", "weekly"], "a workflow whose pages are blocked stays listed"
    assert "outbox/weekly is not a folder" in workflows["weekly"]["blocked"]
    overview = (outbox / "index.html").read_text(encoding="utf-8")
    assert "outbox/weekly is not a folder the daemon can write" in overview, "the overview says why, and the fix"
    assert 'href="weekly/index.html"' not in overview, "no dead link to pages that could not be written"
