"""``FactStore.record_batch``: what the inbox records a drained batch with gives what one-by-one would."""

from __future__ import annotations

import datetime as dt

from autoflow_watch.store import Fact, FactChange, Store

D1, D2, D3 = dt.date(2026, 11, 22), dt.date(2026, 11, 23), dt.date(2026, 11, 24)


def test_a_batch_records_new_redelivered_and_confirmed_facts_in_one_go(store: Store) -> None:
    store.facts.record(Fact("calls", D1, "inbox", {"rows": 1}, "k1"))
    store.facts.record(Fact("calls", D2, "flowapi"))
    changes = store.facts.record_batch(
        [
            Fact("calls", D1, "inbox", {"rows": 2}, "k2"),  # a new file for a known fact
            Fact("calls", D2, "inbox", {"rows": 5}, "k5"),  # another source's fact, now from a marker
            Fact("calls", D3, "inbox", None, "k3"),
            Fact("sms", D3, "inbox", {"rows": 7}, "k7"),
        ]
    )
    assert changes == [FactChange.REDELIVERED, FactChange.CONFIRMED, FactChange.NEW, FactChange.NEW]
    assert store.facts.get("calls", D1) == (Fact("calls", D1, "inbox", {"rows": 2}), 2)
    assert store.facts.get("calls", D2) == (Fact("calls", D2, "flowapi", {"rows": 5}), 1)
    assert store.facts.get("sms", D3) == (Fact("sms", D3, "inbox", {"rows": 7}), 1)
    assert store.facts.record_batch([Fact("calls", D3, "inbox", None, "k3")]) == [FactChange.CONFIRMED], "same file"


def test_the_same_fact_twice_in_one_batch_is_new_then_redelivered(store: Store) -> None:
    changes = store.facts.record_batch([Fact("calls", D1, "inbox", None, "a"), Fact("calls", D1, "inbox", {}, "b")])
    assert changes == [FactChange.NEW, FactChange.REDELIVERED]
    assert store.facts.get("calls", D1) == (Fact("calls", D1, "inbox", {}), 2)


def test_a_batch_larger_than_one_lookup_query_finds_every_known_fact(store: Store) -> None:
    days = [D1 + dt.timedelta(days=i) for i in range(1000)]
    assert set(store.facts.record_batch([Fact("calls", d, "inbox", None, f"a{d}") for d in days])) == {FactChange.NEW}
    again = store.facts.record_batch([Fact("calls", d, "inbox", None, f"b{d}") for d in days])
    assert set(again) == {FactChange.REDELIVERED} and store.facts.count() == 1000
