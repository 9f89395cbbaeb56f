"""Two daemons racing for the same due run, round after round: one of them gets it, never both."""

from __future__ import annotations

import datetime as dt
import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from autoflow_watch.store import AttemptResult, Store

TTL = timedelta(seconds=60)
START = dt.date(2020, 1, 1)


def rounds_for(url: str) -> int:
    return 1000 if url.startswith("postgresql") else 200  # SQLite serialises writers: fewer, same race


@pytest.mark.e2e  # slow: a thousand rounds
def test_two_daemons_racing_the_same_claim_never_both_hold_it(store_url):
    rounds = rounds_for(store_url)
    planner = Store(store_url)
    daemons = {"a": Store(store_url), "b": Store(store_url)}  # each its own engine: two sessions
    day = iter(START + timedelta(days=i) for i in range(rounds))
    # the last daemon to arrive makes one new run due, then both claim it at once
    start = threading.Barrier(2, action=lambda: planner.runs.ensure("wf", [next(day)], 3))
    end = threading.Barrier(2)
    won: dict[str, list[str]] = {name: [] for name in daemons}
    errors: list[BaseException] = []

    def race(name: str) -> None:
        store = daemons[name]
        try:
            for _ in range(rounds):
                start.wait(timeout=60)
                claim = store.runs.claim_next(name, {"wf": 3}, TTL)
                if claim is not None:
                    won[name].append(claim.reference_date.isoformat())
                    store.runs.finish(claim, AttemptResult("succeeded"), TTL)
                end.wait(timeout=60)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
            start.abort()
            end.abort()

    threads = [threading.Thread(target=race, args=(name,)) for name in daemons]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    try:
        assert not errors, errors
        claimed = won["a"] + won["b"]
        assert len(claimed) == len(set(claimed)), "a run was claimed twice"
        assert len(claimed) == rounds, "every round, one of the two got the run"
        engine = create_engine(store_url)
        with engine.connect() as conn:
            per_run = conn.execute(text("SELECT run_pk, COUNT(*) FROM attempts GROUP BY run_pk")).all()
            states = conn.execute(text("SELECT state, COUNT(*) FROM runs GROUP BY state")).all()
        engine.dispose()
        assert {count for _, count in per_run} == {1}, "one attempt per run: nobody else ever held it"
        assert dict(states) == {"succeeded": rounds}
        assert won["a"] and won["b"], "both daemons won some rounds (they really raced)"
    finally:
        for store in [planner, *daemons.values()]:
            store.close()
