"""Claims per second on one PostgreSQL store, and how fast survivors take over a dead daemon's runs.

Run by hand: ``.venv/bin/python bench/bench_claims.py [--runs 10000]``. It starts a private
PostgreSQL server (tests/private_postgres.py; or uses ``AUTOFLOW_BENCH_POSTGRES_URL``), makes
``--runs`` due runs, and lets 1, 2 and 4 processes claim them all through ``store.runs.claim_next``
(each claim: one ``SELECT … FOR UPDATE SKIP LOCKED``, the update and the attempt row, one commit).
The reference, measured in the same run on the same server, is the raw tool: psycopg doing only
the locking select and the update, no attempt row, no Python around it.

Takeover: a "dead" daemon holds 100 runs with a 2 s lease; 2 survivors loop as the daemon's lease
keeper does (``recover_expired`` then claim). Printed: seconds from the lease's expiry until the
survivors hold every run again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from private_postgres import PrivatePostgres, postgres_bin  # noqa: E402
from shared_postgres import reset_postgres  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from autoflow_watch.daemon.recovery import recover_expired  # noqa: E402
from autoflow_watch.logs import configure  # noqa: E402
from autoflow_watch.store import Store, schema  # noqa: E402

TTL = timedelta(seconds=60)
START = dt.date(2000, 1, 1)
LIMITS = {"wf": 3}


def make_due(url: str, runs: int) -> None:
    reset_postgres(url)
    store = Store(url)
    with store.engine.begin() as conn:
        now = time.time()
        rows = [
            {
                "workflow": "wf",
                "reference_date": (START + timedelta(days=i)).isoformat(),
                "state": "pending",
                "attempts": 0,
                "max_attempts": 3,
                "rerun_requested": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(runs)
        ]
        conn.execute(schema.runs.insert(), rows)
    with store.engine.connect() as conn:
        conn.execute(text("ANALYZE runs"))  # what autovacuum does soon after a bulk insert
    store.close()


def claimer(url: str, owner: str, go: float, out: multiprocessing.Queue) -> None:
    store = Store(url)
    time.sleep(max(0.0, go - time.time()))
    started = time.time()
    count = 0
    while store.runs.claim_next(owner, LIMITS, TTL) is not None:
        count += 1
    out.put((count, started, time.time()))
    store.close()


RAW_CLAIM = """
WITH next AS (
  SELECT id FROM runs WHERE state = 'pending' AND workflow = 'wf'
  ORDER BY reference_date, id LIMIT 1 FOR UPDATE SKIP LOCKED)
UPDATE runs SET state = 'running', attempts = attempts + 1, lease_owner = %s FROM next
WHERE runs.id = next.id RETURNING runs.id
"""


def raw_claimer(url: str, owner: str, go: float, out: multiprocessing.Queue) -> None:
    import psycopg

    parsed = make_url(url)
    conn = psycopg.connect(dbname=parsed.database, user=parsed.username, host=parsed.query["host"])
    time.sleep(max(0.0, go - time.time()))
    started = time.time()
    count = 0
    while True:
        with conn.transaction():
            if conn.execute(RAW_CLAIM, (owner,)).fetchone() is None:
                break
        count += 1
    out.put((count, started, time.time()))
    conn.close()


def race(url: str, runs: int, processes: int, target: object) -> tuple[float, int]:
    """Claims per second with ``processes`` claimers until nothing is due; and the total claimed."""
    make_due(url, runs)
    out: multiprocessing.Queue = multiprocessing.Queue()
    go = time.time() + 3.0
    workers = [
        multiprocessing.Process(target=target, args=(url, f"d{i}", go, out))  # type: ignore[arg-type]
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=900) for _ in workers]
    for worker in workers:
        worker.join()
    claimed = sum(count for count, _, _ in results)
    started = min(at for _, at, _ in results)  # the first claimer to start (a slow starter only helps it)
    ended = max(at for _, _, at in results)
    return claimed / (ended - started), claimed


def survivor(url: str, owner: str, until: float, out: multiprocessing.Queue) -> None:
    store = Store(url)
    outbox = Path(tempfile.mkdtemp(prefix="afw-bench-outbox-"))
    taken = 0
    while time.time() < until:
        recover_expired(store, outbox, {"wf": timedelta(0)}, all_running=False)
        while (claim := store.runs.claim_next(owner, LIMITS, TTL)) is not None:
            taken += 1
            out.put((claim.reference_date, time.time()))
        time.sleep(1.0)  # the daemon's lease keeper runs every lease_renew_interval (default 10 s; here 1 s)
    store.close()


def takeover(url: str, held: int = 100, lease_s: float = 2.0) -> tuple[float, float]:
    """Seconds from each run's lease expiry to its takeover: (median, slowest)."""
    make_due(url, held)
    store = Store(url)
    expiry = {}
    for _ in range(held):
        claim = store.runs.claim_next("dead-daemon", LIMITS, timedelta(seconds=lease_s))
        assert claim is not None
        expiry[claim.reference_date] = claim.started_at + lease_s
    expires = max(expiry.values())
    store.close()
    out: multiprocessing.Queue = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=survivor, args=(url, f"s{i}", expires + 30, out))  # type: ignore[arg-type]
        for i in range(2)
    ]
    for worker in workers:
        worker.start()
    # the survivors poll once a second (as a daemon with lease_renew_interval = "1s" does)
    delays = sorted(at - expiry[day] for day, at in (out.get(timeout=120) for _ in range(held)))
    for worker in workers:
        worker.terminate()
        worker.join()
    return delays[len(delays) // 2], delays[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    configure("error")  # the survivors' run.recovered warnings are the point, not the output
    url = os.environ.get("AUTOFLOW_BENCH_POSTGRES_URL")
    server = None
    if url is None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise SystemExit("PostgreSQL is not installed: apt-get install postgresql (scripts/test.sh does)")
        server = PrivatePostgres(bin_dir).create()
        url = server.url
    try:
        print(f"{args.runs} due runs on one PostgreSQL store ({'private server' if server else url})")
        print(f"{'claimers':>8}  {'ours/s':>9}  {'raw/s':>9}  {'ours/raw':>8}  claimed")
        for processes in (1, 2, 4):
            ours, claimed = race(url, args.runs, processes, claimer)
            raw, raw_claimed = race(url, args.runs, processes, raw_claimer)
            assert claimed == raw_claimed == args.runs, (claimed, raw_claimed)
            print(f"{processes:>8}  {ours:>9.0f}  {raw:>9.0f}  {ours / raw:>8.2f}  {claimed} (each once)")
        median, slowest = takeover(url)
        print(
            f"takeover of a dead daemon's 100 runs by 2 survivors polling every 1 s: median {median:.2f}s, "
            f"slowest {slowest:.2f}s after each run's lease expired"
        )
    finally:
        if server is not None:
            server.destroy()


if __name__ == "__main__":
    main()
