"""The schema migrates: release-1 stores upgrade in place, newer ones are refused, one process migrates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from autoflow_watch.store import Store, StoreError
from autoflow_watch.store.migrate import head

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "release1"
TABLES = ("facts", "runs", "attempts", "steps")
REPO = Path(__file__).resolve().parents[2]


def load_release1(url: str, tmp_path: Path) -> str:
    """The release-1 fixture store at ``url`` (``store_url`` made the database empty)."""
    if url.startswith("sqlite"):
        target = Path(make_url(url).database)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / "release1.db", target)
        return url
    dump = (FIXTURES / "release1-postgres.sql").read_text(encoding="utf-8")
    script = "\n".join(line for line in dump.splitlines() if not line.startswith("\\"))  # psql meta-commands
    parsed = make_url(url)
    with psycopg.connect(
        dbname=parsed.database, user=parsed.username, host=parsed.query["host"], autocommit=True
    ) as conn:
        conn.execute(script)
    return url


def table_rows(url: str) -> dict[str, list[dict[str, object]]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = {t: [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))] for t in TABLES}
    engine.dispose()
    return found


def from_the_future(url: str) -> None:
    """A store as a newer autoflow-watch would leave it: at a revision this one does not know."""
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    engine.dispose()


def backend(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def test_a_release1_store_upgrades_in_place_keeping_every_run_attempt_and_fact(store_url, tmp_path):
    url = load_release1(store_url, tmp_path)
    expected = json.loads((FIXTURES / "release1-rows.json").read_text())[backend(url)]
    store = Store(url)
    try:
        assert (store.upgrade.before, store.upgrade.applied) == (
            "0001_release1",
            ["0002_several_daemons", "0003_portal", "0004_reuse"],
        )
        running = {r.run_id: r.holder for r in store.runs.status() if r.state.value == "running"}
    finally:
        store.close()
    found = table_rows(url)
    for row in found["runs"]:
        row.pop("holder")
        assert row.pop("reuse_after") is None  # release 3's --fresh (0004_reuse): never asked yet
    for table in TABLES:
        assert json.loads(json.dumps(found[table], default=str)) == expected[table], table
    attempts = {a["run_id"]: f"{a['host']}:{a['pid']}" for a in expected["attempts"]}
    assert len(running) == 2 and running == {run_id: attempts[run_id] for run_id in running}


def test_an_upgraded_release1_store_is_used_as_any_other(store_url, tmp_path):
    from datetime import timedelta

    from autoflow_watch.store import AttemptResult

    store = Store(load_release1(store_url, tmp_path))
    try:
        claim = store.runs.claim_next("new-daemon", {"daily-report": 3}, timedelta(seconds=60))
        assert claim is not None and (claim.reference_date.isoformat(), claim.attempt) == ("2026-11-02", 2)
        assert store.runs.finish(claim, AttemptResult("succeeded"), timedelta(seconds=1)).value == "succeeded"
        assert store.facts.count() == 11
    finally:
        store.close()


def test_an_upgraded_release1_store_keeps_scraps_for_the_portal_and_reads_history_per_workflow(store_url, tmp_path):
    store = Store(load_release1(store_url, tmp_path))
    try:
        history = store.runs.portal.history("daily-report")
        assert history and [h.reference_date for h in history] == sorted(
            (h.reference_date for h in history), reverse=True
        )
        day = history[0].reference_date
        store.runs.portal.record_scraps("daily-report", day, "r-1", {"report": {"calls": 4273779, "region": "admin2"}})
        store.runs.portal.record_scraps("daily-report", day, "r-2", {"report": {"calls": 4491741}})  # a rerun's
        assert store.runs.portal.history("daily-report")[0].scraps == {"report": {"calls": 4491741}}
        assert store.runs.portal.history("no-such-workflow") == []
    finally:
        store.close()
    engine = create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT value FROM meta WHERE key = 'schema_version'")).scalar() == "4"
    engine.dispose()


def test_a_current_store_is_left_as_it_is(store_url):
    Store(store_url).close()
    store = Store(store_url)
    try:
        assert (store.upgrade.before, store.upgrade.after, store.upgrade.applied) == (head(), head(), [])
    finally:
        store.close()


def test_a_store_at_a_revision_not_known_is_refused(store_url):
    from_the_future(store_url)
    with pytest.raises(StoreError, match=r"'0099_from_the_future'.*newer autoflow-watch wrote it; upgrade"):
        Store(store_url)


OPEN_STORE = """
import json, sys, time
from autoflow_watch.store import Store
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
store = Store(sys.argv[1])
print(json.dumps(store.upgrade.applied))
store.close()
"""


@pytest.mark.process  # several processes open the store
def test_processes_opening_a_new_store_at_once_migrate_it_once(store_url):
    import time

    start = str(time.time() + 2.0)  # every process opens the store at the same moment
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_STORE, store_url, start], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, [err.decode() for _, err in results]
    applied = sorted(json.loads(out.decode().splitlines()[-1]) for out, _ in results)
    assert applied == [[], [], [], ["0001_release1", "0002_several_daemons", "0003_portal", "0004_reuse"]]


def write_config(folder: Path, url: str) -> Path:
    (folder / "notebooks").mkdir(parents=True, exist_ok=True)
    config = folder / "autoflow.toml"
    config.write_text(
        f'[paths]\nnotebooks = "notebooks"\ninbox = "in"\noutbox = "out"\nwork = "work"\nstate = "{url}"\n',
        encoding="utf-8",
    )
    return config


def command(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autoflow_watch", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


@pytest.mark.process  # the CLI
def test_db_upgrade_prints_the_revisions_it_applied_then_that_there_is_nothing_to_do(store_url, tmp_path):
    config = write_config(tmp_path, load_release1(store_url, tmp_path))
    first = command(config, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0].startswith("applied 0002_several_daemons: Several daemons on one store")
    assert first.stdout.splitlines()[1].startswith("applied 0003_portal: The outbox as a portal")
    assert first.stdout.splitlines()[2].startswith("applied 0004_reuse: Reruns that do not repeat work")
    assert first.stdout.splitlines()[-1].endswith("is now at revision 0004_reuse")
    second = command(config, "db", "upgrade")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip().endswith("is at revision 0004_reuse: nothing to do")
    assert len(second.stdout.splitlines()) == 1


@pytest.mark.process  # the CLI
@pytest.mark.parametrize("args", [("run", "--once"), ("status",), ("db", "upgrade")])
def test_commands_refuse_a_newer_store_in_one_line_with_exit_2(store_url, tmp_path, args):
    from_the_future(store_url)
    config = write_config(tmp_path, store_url)
    result = command(config, *args)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "'0099_from_the_future'" in line and "upgrade autoflow-watch" in line
    assert result.stdout == ""
