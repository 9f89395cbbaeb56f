"""How fast the daemon recovers from each fault, every one caused for real.

Run by hand: ``.venv/bin/python bench/bench_faults.py``. Each scenario starts the real daemon
on a fresh folder with the tests' one-notebook projects, causes its fault and prints what the
daemon did and the seconds it took, read from the daemon's own log timestamps (wall clock,
the same clock this script uses for the moments it acts). Reference: a healthy run of the
same one-notebook workflow (marker -> run.finished) is measured first.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from daemon_process import DaemonProcess, alive_pids, cli, recorded_kernel_pids, wait_for  # noqa: E402
from faulty_project import drop_marker, single_notebook_project  # noqa: E402

Scenario = Callable[[Path], str]


def at(line: dict[str, object]) -> float:
    return dt.datetime.fromisoformat(str(line["timestamp"]).replace("Z", "+00:00")).timestamp()


def finished(daemon: DaemonProcess, count: int = 1) -> list[dict[str, object]]:
    return daemon.wait_for_event("run.finished", timeout=180, count=count)


def one_run(folder: Path, cell: str, *, execution: str = "", attempts: int = 1) -> str:
    """Marker -> each attempt's end, for a cell that misbehaves in one way."""
    config = single_notebook_project(folder, cell, execution=execution, workflow=f"max_attempts = {attempts}")
    daemon = DaemonProcess(config).start()
    try:
        dropped = time.time()
        drop_marker(config)
        ends = finished(daemon, attempts)
        started = daemon.events("run.started")
    finally:
        daemon.stop()
    first = ends[0]
    detail = f"{first['state']} ({first['outcome']}: {str(first.get('error'))[:70]})"
    spans = ", ".join(
        f"attempt {i + 1} {at(e) - at(s):.2f}s" for i, (s, e) in enumerate(zip(started, ends, strict=False))
    )
    return f"{detail}; marker -> {ends[-1]['state']} {at(ends[-1]) - dropped:.2f}s ({spans})"


def healthy(folder: Path) -> str:
    return one_run(folder, "print('ok')")


def raises(folder: Path) -> str:
    return one_run(folder, "raise ValueError('bad input')", attempts=2, execution='retry_backoff = "1s"')


def cell_timeout(folder: Path) -> str:
    return one_run(folder, "import time\ntime.sleep(120)", execution='cell_timeout = "2s"')


def run_timeout(folder: Path) -> str:
    return one_run(folder, "import time\ntime.sleep(120)", execution='run_timeout = "3s"')


def dead_kernel(folder: Path) -> str:
    return one_run(folder, "import os\nos._exit(1)")


def memory_limit(folder: Path) -> str:
    cell = "import resource\nresource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3,) * 2)\nhog = bytearray(3 * 1024**3)"
    return one_run(folder, cell)


def kill9_mid_notebook(folder: Path) -> str:
    config = single_notebook_project(folder, "import time\ntime.sleep(3)", workflow="max_attempts = 3")
    state_db = folder / "var" / "state" / "autoflow.db"
    first = DaemonProcess(config).start()
    drop_marker(config)
    wait_for(lambda: recorded_kernel_pids(state_db), 60)
    first.kill9()
    killed = time.time()
    pids = recorded_kernel_pids(state_db)
    wait_for(lambda: not alive_pids(pids), 30)
    orphans_gone = time.time() - killed
    restarted = time.time()
    second = DaemonProcess(config).start()
    try:
        recovered = second.wait_for_event("run.recovered", timeout=60)[0]
        done = finished(second)[0]
    finally:
        second.stop()
    return (
        f"kernel gone {orphans_gone:.2f}s after the kill (PDEATHSIG); restart -> attempt reclaimed "
        f"{at(recovered) - restarted:.2f}s; restart -> {done['state']} {at(done) - restarted:.2f}s"
    )


def sigterm_past_grace(folder: Path) -> str:
    config = single_notebook_project(folder, "import time\ntime.sleep(120)", execution='shutdown_grace = "1s"')
    daemon = DaemonProcess(config).start()
    drop_marker(config)
    wait_for(lambda: recorded_kernel_pids(folder / "var" / "state" / "autoflow.db"), 60)
    sent = time.monotonic()
    code = daemon.stop()
    [run] = json.loads(cli(config, "status", "--json").stdout)
    took = time.monotonic() - sent
    return f"exit {code} {took:.2f}s after SIGTERM (grace 1s); run {run['state']}, attempts {run['attempts']}"


def sighup_broken_config(folder: Path) -> str:
    config = single_notebook_project(folder, "print('ok')")
    daemon = DaemonProcess(config).start()
    try:
        config.write_text(config.read_text() + "\n[nonsense]\n")
        sent = time.time()
        daemon.signal(signal.SIGHUP)
        kept = daemon.wait_for_event("config.reload_refused.kept_old", timeout=30)[0]
    finally:
        daemon.stop()
    return f"refused, old config kept, {at(kept) - sent:.3f}s after SIGHUP"


def second_daemon(folder: Path) -> str:
    config = single_notebook_project(folder, "print('ok')")
    first = DaemonProcess(config).start()
    try:
        started = time.monotonic()
        second = cli(config, "run")
        took = time.monotonic() - started
    finally:
        first.stop()
    return f"exit {second.returncode} in {took:.2f}s: {second.stderr.strip().splitlines()[-1][:90]}"


def read_only_outbox(folder: Path) -> str:
    config = single_notebook_project(
        folder, "print('ok')", workflow="max_attempts = 3", execution='retry_backoff = "2s"'
    )
    outbox = folder / "var" / "outbox"
    outbox.mkdir(parents=True)
    if subprocess.run(["mount", "--bind", str(outbox), str(outbox)], capture_output=True).returncode:
        return "skipped: cannot bind-mount here (needs root)"
    subprocess.run(["mount", "-o", "remount,bind,ro", str(outbox)], check=True)
    daemon = DaemonProcess(config).start()
    try:
        drop_marker(config)
        failed = finished(daemon)[0]
        subprocess.run(["umount", str(outbox)], check=True)
        writable = time.time()
        done = finished(daemon, 2)[1]
    finally:
        subprocess.run(["umount", str(outbox)], capture_output=True)
        daemon.stop()
    error = str(failed["error"])[:60]
    return f"attempt 1 {failed['state']} ({error}); writable -> {done['state']} {at(done) - writable:.2f}s"


SCENARIOS: dict[str, Scenario] = {
    "healthy run": healthy,
    "cell raises": raises,
    "cell_timeout 2s": cell_timeout,
    "run_timeout 3s": run_timeout,
    "kernel os._exit": dead_kernel,
    "memory limit": memory_limit,
    "kill -9 daemon": kill9_mid_notebook,
    "SIGTERM > grace": sigterm_past_grace,
    "SIGHUP bad config": sighup_broken_config,
    "second daemon": second_daemon,
    "read-only outbox": read_only_outbox,
}


def main() -> None:
    chosen = sys.argv[1:] or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        names = ", ".join(repr(n) for n in SCENARIOS)
        sys.exit(f"usage: bench_faults.py [SCENARIO...]; unknown {', '.join(unknown)}; scenarios: {names}")
    for name in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"{name:<18} {SCENARIOS[name](Path(tmp))}", flush=True)


if __name__ == "__main__":
    main()
