"""Several real daemons from one config on one PostgreSQL store, one inbox and one outbox.

Every notebook execution appends a line to a ledger file (reference date, run id), so a test
can count how often each date's notebook really ran, whatever the store says.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from daemon_process import DaemonProcess, cli, wait_for
from faulty_project import single_notebook_project
from shared_postgres import empty_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
WORKFLOW = "faulty"


def ledger_cell(ledger: Path, sleep_s: float, hold: Path | None = None) -> str:
    """Append to the ledger, then sleep ``sleep_s``, or with ``hold``: wait while that file exists."""
    wait = (
        f"deadline = time.time() + 600\nwhile os.path.exists({str(hold)!r}) and time.time() < deadline:\n"
        "    time.sleep(0.1)\n"
        if hold
        else f"time.sleep({sleep_s})\n"
    )
    return (
        "import os, time\n"
        f"with open({str(ledger)!r}, 'a') as ledger:\n"
        "    ledger.write(f'{reference_date} {run_id}\\n')\n"
        f"{wait}"
        "print('done', reference_date)\n"
    )


def shared_project(tmp_path: Path, sleep_s: float, execution: str = "", hold: Path | None = None) -> tuple[Path, Path]:
    (tmp_path / "ledger").mkdir(exist_ok=True)  # granted to the sealed kernels (write_paths)
    ledger = tmp_path / "ledger" / "ledger.txt"
    config = single_notebook_project(
        tmp_path, ledger_cell(ledger, sleep_s, hold), execution=execution, workflow='write_paths = ["ledger"]'
    )
    config.write_text(config.read_text().replace("sqlite:///var/state/autoflow.db", empty_postgres()))
    return config, ledger


def drop_markers(config: Path, days: list[str]) -> None:
    inbox = config.parent / "var" / "inbox"
    for day in days:
        (inbox / f"calls_{day}.ready").touch()


def days_of(count: int) -> list[str]:
    return [f"2026-10-{i:02d}" for i in range(1, count + 1)]


def status(config: Path) -> list[dict]:
    result = cli(config, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def all_succeeded(config: Path, count: int) -> list[dict] | None:
    runs = status(config)
    return runs if len(runs) == count and all(r["state"] == "succeeded" for r in runs) else None


def ledger_counts(ledger: Path) -> Counter[str]:
    return Counter(line.split()[0] for line in ledger.read_text().splitlines())


def published(daemons: list[DaemonProcess]) -> Counter[str]:
    return Counter(e["reference_date"] for d in daemons for e in d.events("run.published"))


def check_published_once(config: Path, runs: list[dict]) -> None:
    outbox = config.parent / "var" / "outbox" / WORKFLOW
    for run in runs:
        manifest = json.loads((outbox / run["reference_date"] / "manifest.json").read_text())
        assert manifest["run_id"] == run["run_id"], run["reference_date"]
    latest = json.loads((outbox / "latest.json").read_text())
    assert latest["reference_date"] == max(r["reference_date"] for r in runs)
    history = (outbox / "index.html").read_text()
    assert all(f">{r['reference_date']}<" in history for r in runs), "the history lists every daemon's reports"
    data = json.loads((config.parent / "var" / "outbox" / "index.json").read_text())
    [workflow] = [w for w in data["workflows"] if w["name"] == WORKFLOW]
    assert {d["reference_date"] for d in workflow["dates"] if d["state"] == "succeeded"} == {
        r["reference_date"] for r in runs
    }, "index.json too"


def test_three_daemons_publish_thirty_markers_each_once(tmp_path):
    config, ledger = shared_project(tmp_path, 0.1)
    daemons = [DaemonProcess(config).start() for _ in range(3)]
    days = days_of(30)
    try:
        drop_markers(config, days)
        runs = wait_for(lambda: all_succeeded(config, 30), 300, interval=1.0, what="30 runs succeeded")
    finally:
        codes = [d.stop() for d in daemons]
    assert codes == [0, 0, 0]
    assert ledger_counts(ledger) == Counter({day: 1 for day in days}), "each notebook ran once"
    assert published(daemons) == Counter({day: 1 for day in days}), "each report published once"
    assert sum(1 for d in daemons if d.events("run.published")) >= 2, "the daemons shared the work"
    check_published_once(config, runs)
    processed = sorted(p.name for p in (config.parent / "var" / "inbox" / "processed").iterdir())
    assert processed == sorted(f"calls_{day}.ready" for day in days), "each marker moved once"
    accepted = Counter(e["marker"] for d in daemons for e in d.events("inbox.marker.accepted"))
    assert accepted == Counter({f"calls_{day}.ready": 1 for day in days}), "each marker logged once, by its mover"
    for daemon in daemons:
        assert not [e for e in daemon.logs() if e.get("level") in ("warning", "error")], daemon.log_text()[-3000:]


def held_by(config: Path, daemon: DaemonProcess) -> list[dict]:
    return [r for r in status(config) if r["holder"] and r["holder"].endswith(f":{daemon.pid}")]


def test_a_daemon_killed_mid_run_loses_its_runs_to_the_others_after_the_lease(tmp_path):
    # a lease long enough to read who held what after the kill, before the others take over; the
    # notebooks hold until the kill (a sleep could end first when `status` is slow on a busy machine)
    hold = tmp_path / "hold"
    hold.touch()
    config, ledger = shared_project(tmp_path, 0, execution='lease_timeout = "20s"', hold=hold)
    days = days_of(6)
    daemons = [DaemonProcess(config).start() for _ in range(3)]
    victim, survivors = daemons[0], daemons[1:]
    try:
        drop_markers(config, days)
        victim.wait_for_event("run.started", timeout=120)
        wait_for(lambda: held_by(config, victim), 60, what="a run held by the victim")
        victim.kill9()
        killed_at = time.monotonic()
        held = held_by(config, victim)  # frozen now: nobody takes them before the lease expires
        assert held and all(r["state"] == "running" for r in held)
        hold.unlink()
        runs = wait_for(lambda: all_succeeded(config, 6), 300, interval=1.0, what="every run succeeded")
        took = time.monotonic() - killed_at
    finally:
        if victim.process is not None and victim.process.poll() is None:  # failed before the kill
            victim.kill9()
        for daemon in survivors:
            assert daemon.stop() == 0
    taken_over = {r["reference_date"] for r in held}
    recovered = [e for d in survivors for e in d.events("run.recovered")]
    assert {e["reference_date"] for e in recovered} == taken_over, "the survivors took over exactly its runs"
    assert len(recovered) == len(taken_over), "each taken over once"
    counts = ledger_counts(ledger)
    assert {day for day, n in counts.items() if n > 1} <= taken_over, "only the killed daemon's runs ran again"
    assert all(counts[day] <= 2 for day in taken_over) and all(counts[day] >= 1 for day in days)
    assert published(daemons) == Counter({day: 1 for day in days}), "each published once"
    check_published_once(config, runs)
    by_date = {r["reference_date"]: r for r in runs}
    assert all(by_date[day]["attempts"] == 2 for day in taken_over), "the killed attempt counts"
    assert 20 <= took < 240, "taken over once the lease expired, not before"


def test_sigterm_gives_a_daemons_runs_back_at_once(tmp_path):
    # a long lease: taking the run over before it could expire proves it was given back
    config, ledger = shared_project(tmp_path, 20.0, execution='lease_timeout = "10m"\nshutdown_grace = "1s"')
    first = DaemonProcess(config).start()
    second = None
    try:
        drop_markers(config, days_of(1))
        first.wait_for_event("run.started", timeout=120)
        second = DaemonProcess(config).start()
        wait_for(lambda: ledger.exists(), 60, what="the notebook started")
        first.signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
        second.wait_for_event("run.started", timeout=60)
        [run] = wait_for(lambda: all_succeeded(config, 1), 180, interval=1.0, what="the run succeeded")
    finally:
        if second is not None:
            assert second.stop() == 0
    assert run["attempts"] == 1, "the interrupted attempt was given back, not counted"
    assert not second.events("run.recovered"), "given back, not expired"
    assert len(ledger.read_text().splitlines()) == 2
