"""Publishing is fenced by the lease: two real daemons on one PostgreSQL store, one of them cut off.

Daemon A claims the run; then it is cut off from the store (a proxy in front of PostgreSQL drops
its connections) or paused (SIGSTOP) past its lease, while daemon B takes the run over and
publishes it. When A comes back it must publish nothing and say once that it lost the run. A
reader checks the report folder throughout. A crash between recording a success and swapping
the folder in is finished by recovery, by a peer or at the next start.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from daemon_process import DaemonProcess, cli, wait_for
from faulty_project import drop_marker, single_notebook_project
from report_reader import ReportReader
from shared_postgres import empty_postgres
from socket_proxy import StoreProxy

pytestmark = [pytest.mark.e2e]
DAY = "2026-11-24"
PUBLISHED = ("run.published", "run.published_by_recovery")  # the daemon that ran it, or recovery


def ledger_cell(ledger: Path, sleep_s: float, hold: Path | None = None) -> str:
    """Append to the ledger, sleep ``sleep_s``, then (with ``hold``) wait while that file exists."""
    wait = f"while os.path.exists({str(hold)!r}) and time.time() < deadline:\n    time.sleep(0.1)\n" if hold else ""
    return (
        "import os, time\n"
        "deadline = time.time() + 600\n"
        f"with open({str(ledger)!r}, 'a') as ledger:\n"
        "    ledger.write(f'{run_id}\\n')\n"
        f"time.sleep({sleep_s})\n"
        f"{wait}"
        "print('done', reference_date)\n"
    )


def project(tmp_path: Path, state_url: str, sleep_s: float = 2.0, hold: Path | None = None) -> tuple[Path, Path]:
    (tmp_path / "ledger").mkdir(exist_ok=True)  # granted to the sealed kernels (write_paths)
    ledger = tmp_path / "ledger" / "ledger.txt"
    config = single_notebook_project(tmp_path, ledger_cell(ledger, sleep_s, hold), workflow='write_paths = ["ledger"]')
    config.write_text(config.read_text().replace("sqlite:///var/state/autoflow.db", state_url))
    return config, ledger


def with_state(config: Path, name: str, state_url: str) -> Path:
    """The same project under another config file whose store URL differs (the path through the proxy)."""
    other = config.with_name(name)
    text = config.read_text()
    current = next(line for line in text.splitlines() if line.startswith("state ="))
    other.write_text(text.replace(current, f'state = "{state_url}"'))
    return other


def runs(config: Path) -> list[dict]:
    result = cli(config, "status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def succeeded(config: Path) -> dict | None:
    found = runs(config)
    return found[0] if len(found) == 1 and found[0]["state"] == "succeeded" else None


def outbox_of(config: Path) -> Path:
    return config.parent / "var" / "outbox"


def assert_manifest_matches_its_files(folder: Path) -> dict:
    document = json.loads((folder / "manifest.json").read_text())
    for output in document["outputs"]:
        assert hashlib.sha256((folder / output["path"]).read_bytes()).hexdigest() == output["sha256"], output
    return document


def assert_published_once(config: Path, daemons: list[DaemonProcess], reader: ReportReader) -> dict:
    run = wait_for(lambda: succeeded(config), 120, interval=0.5, what="the run recorded as succeeded")
    published = Counter(
        e["reference_date"] for d in daemons for name in PUBLISHED for e in d.events(name) if "reference_date" in e
    )
    assert published == Counter({DAY: 1}), f"published {published}"
    document = assert_manifest_matches_its_files(outbox_of(config) / "faulty" / DAY)
    assert document["run_id"] == run["run_id"], "the report is the recorded attempt's"
    assert reader.missing == [] and reader.mixed == [], (reader.missing[:3], reader.mixed[:3])
    assert not list((outbox_of(config) / ".pending").glob("*")), "nothing left staged"
    return run


def paused(pid: int) -> bool:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0] == "T"


def socket_folder(url: str) -> Path:
    return Path(parse_qs(urlsplit(url).query)["host"][0])


@pytest.mark.postgres
def test_a_daemon_cut_off_from_the_store_while_its_run_is_taken_over_publishes_nothing(tmp_path):
    url = empty_postgres()
    proxy = StoreProxy(socket_folder(url))
    hold = tmp_path / "hold"  # A's notebook holds until A is cut off (B may take long to start)
    hold.touch()
    config_b, ledger = project(tmp_path, url, hold=hold)
    config_a = with_state(config_b, "autoflow-a.toml", proxy.url(url, socket_folder(url)))
    a = DaemonProcess(config_a).start()
    b = reader = None
    try:
        drop_marker(config_a)
        a.wait_for_event("run.started", timeout=120)
        b = DaemonProcess(config_b).start()
        reader = ReportReader(outbox_of(config_a))
        reader.start()
        proxy.cut()  # A's notebook goes on; its end can no longer be recorded
        a.wait_for_event("store.unavailable", timeout=120)  # the cut has reached A (its lease renewal failed)
        hold.unlink()
        wait_for(lambda: a.events("run.report_staged") or a.events("run.published"), 120, what="A finished")
        assert not a.events("run.published"), "A published while it could not confirm its claim"
        b.wait_for_event("run.published", timeout=180)  # B expired A's lease, ran it again and published
        proxy.restore()
        a.wait_for_event("run.lost", timeout=120)
        run = assert_published_once(config_b, [a, b], reader)
    finally:
        reader and reader.stop()
        proxy.close()
        codes = [d.stop() for d in (a, b) if d is not None]
    assert codes == [0, 0]
    assert run["attempts"] == 2 and len(ledger.read_text().splitlines()) == 2
    assert len(a.events("run.lost")) == 1, "A says once that it lost the run"
    assert len(a.events("run.report_staged")) == 1, "and once that its report waited for the store"


@pytest.mark.postgres
def test_a_daemon_paused_past_its_lease_publishes_nothing_when_it_wakes(tmp_path):
    url = empty_postgres()
    config, ledger = project(tmp_path, url)
    a = DaemonProcess(config, env={"AUTOFLOW_WATCH_FAULT": "before-record:SIGSTOP"}).start()
    b = reader = None
    try:
        drop_marker(config)
        a.wait_for_event("run.started", timeout=120)
        b = DaemonProcess(config).start()
        reader = ReportReader(outbox_of(config))
        reader.start()
        wait_for(lambda: paused(a.pid), 120, what="A paused with its report staged, before recording it")
        b.wait_for_event("run.published", timeout=180)
        a.signal(signal.SIGCONT)
        a.wait_for_event("run.lost", timeout=120)
        run = assert_published_once(config, [a, b], reader)
    finally:
        if a.process is not None and a.process.poll() is None:
            os.kill(a.pid, signal.SIGCONT)
        reader and reader.stop()
        codes = [d.stop() for d in (a, b) if d is not None]
    assert codes == [0, 0]
    assert run["attempts"] == 2 and len(ledger.read_text().splitlines()) == 2
    assert len(a.events("run.lost")) == 1


@pytest.mark.postgres
def test_a_daemon_killed_between_recording_and_swapping_is_finished_by_a_peer(tmp_path):
    url = empty_postgres()
    config, ledger = project(tmp_path, url)
    a = DaemonProcess(config, env={"AUTOFLOW_WATCH_FAULT": "after-record"}).start()
    b = None
    try:
        drop_marker(config)
        a.wait_for_event("run.started", timeout=120)
        b = DaemonProcess(config).start()
        assert a.wait(timeout=180) == -signal.SIGKILL, "A died right after recording the success"
        b.wait_for_event("run.published_by_recovery", timeout=120)
        reader = ReportReader(outbox_of(config))
        run = assert_published_once(config, [a, b], reader)
    finally:
        if b is not None:
            assert b.stop() == 0
    assert run["attempts"] == 1, "recorded once, never run again"
    assert ledger.read_text().splitlines() == [run["run_id"]]
    assert len(b.events("run.published_by_recovery")) == 1 and not b.events("run.recovered")


@pytest.mark.postgres
def test_a_daemon_paused_between_recording_and_swapping_does_not_claim_the_peers_publish(tmp_path):
    """B's recovery swaps A's report in while A is paused; A, continued, says a peer published it."""
    url = empty_postgres()
    config, ledger = project(tmp_path, url)
    a = DaemonProcess(config, env={"AUTOFLOW_WATCH_FAULT": "after-record:SIGSTOP"}).start()
    b = None
    try:
        drop_marker(config)
        wait_for(lambda: paused(a.pid), 180, what="A paused right after recording the success")
        b = DaemonProcess(config).start()
        b.wait_for_event("run.published_by_recovery", timeout=120)
        a.signal(signal.SIGCONT)
        a.wait_for_event("run.published_by_peer", timeout=60)
        run = assert_published_once(config, [a, b], ReportReader(outbox_of(config)))
    finally:
        if a.process is not None and a.process.poll() is None:
            os.kill(a.pid, signal.SIGCONT)
        codes = [d.stop() for d in (a, b) if d is not None]
    assert codes == [0, 0]
    assert run["attempts"] == 1 and ledger.read_text().splitlines() == [run["run_id"]]
    assert not a.events("run.published"), "A swapped nothing: it must not say it published"


def test_a_crash_between_recording_and_swapping_is_finished_at_the_next_start(tmp_path, state_db):
    config, ledger = project(tmp_path, "sqlite:///var/state/autoflow.db")
    first = DaemonProcess(config, env={"AUTOFLOW_WATCH_FAULT": "after-record"}).start()
    drop_marker(config)
    assert first.wait(timeout=180) == -signal.SIGKILL
    [run] = runs(config)
    assert run["state"] == "succeeded" and not (outbox_of(config) / "faulty" / DAY).exists()
    second = DaemonProcess(config).start()
    try:
        second.wait_for_event("run.published_by_recovery", timeout=60)
    finally:
        assert second.stop() == 0
    document = assert_manifest_matches_its_files(outbox_of(config) / "faulty" / DAY)
    assert document["run_id"] == run["run_id"] and runs(config)[0]["attempts"] == 1
    assert ledger.read_text().splitlines() == [run["run_id"]], "the notebook ran once"
    assert not list((outbox_of(config) / ".pending").glob("*"))
