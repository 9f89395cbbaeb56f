import datetime as dt
import threading
from datetime import timedelta

from autoflow_watch.store import AttemptResult, Fact, FactChange, RunState
from autoflow_watch.vocabulary import AttemptOutcome

D = dt.date(2026, 11, 24)
TTL = timedelta(seconds=60)
BACKOFF = timedelta(seconds=10)


def test_planning_the_same_run_twice_creates_it_once(store):
    assert store.runs.ensure("wf", [D], 3) == [D]
    assert store.runs.ensure("wf", [D], 3) == []
    assert [r.state for r in store.runs.status()] == [RunState.PENDING]


def test_two_daemons_claiming_at_once_never_share_a_run(store):
    store.runs.ensure("wf", [D - dt.timedelta(days=i) for i in range(10)], 3)
    claims: dict[str, list] = {"a": [], "b": []}

    def claim_all(owner):
        while (claim := store.runs.claim_next(owner, {"wf": 3}, TTL)) is not None:
            claims[owner].append(claim.reference_date)

    threads = [threading.Thread(target=claim_all, args=(owner,)) for owner in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claims["a"] + claims["b"]) == sorted(D - dt.timedelta(days=i) for i in range(10))


def test_failed_attempt_waits_for_backoff_then_becomes_dead_after_max_attempts(store):
    store.runs.ensure("wf", [D], 2)
    first = store.runs.claim_next("me", {"wf": 2}, TTL, now=1000.0)
    assert (
        store.runs.finish(first, AttemptResult("failed", "ValueError", "boom", "nb", 3), BACKOFF, now=1001.0)
        is RunState.FAILED
    )
    assert store.runs.claim_next("me", {"wf": 2}, TTL, now=1002.0) is None, "retry before its time"
    [run] = store.runs.status()
    assert 1001.0 + 8.0 <= run.next_attempt_at <= 1001.0 + 12.0
    assert run.error == "ValueError in notebook nb, cell 3: boom"
    second = store.runs.claim_next("me", {"wf": 2}, TTL, now=1100.0)
    assert second.attempt == 2 and second.run_id != first.run_id
    assert (
        store.runs.finish(second, AttemptResult("failed", "ValueError", "boom"), BACKOFF, now=1101.0) is RunState.DEAD
    )
    assert store.runs.claim_next("me", {"wf": 2}, TTL, now=99999.0) is None


def test_interrupted_attempt_does_not_count(store):
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("me", {"wf": 3}, TTL)
    assert store.runs.finish(claim, AttemptResult("interrupted"), BACKOFF) is RunState.PENDING
    assert store.runs.status()[0].attempts == 0


def test_expired_lease_makes_the_run_pending_and_counts_the_attempt(store):
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("gone", {"wf": 3}, timedelta(seconds=5), now=1000.0)
    assert store.runs.expired(now=1003.0) == []
    [expired] = store.runs.expired(now=1006.0)
    assert expired.run_id == claim.run_id
    assert store.runs.finish(expired, AttemptResult("expired", "LeaseExpired", "gone"), BACKOFF) is RunState.PENDING
    assert store.runs.status()[0].attempts == 1
    assert store.runs.attempt(claim.run_id).outcome is AttemptOutcome.EXPIRED


def test_renewal_reports_leases_we_no_longer_hold(store):
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("me", {"wf": 3}, TTL)
    assert store.runs.renew("me", [claim.run_id], TTL) == set()
    assert store.runs.renew("someone-else", [claim.run_id], TTL) == {claim.run_id}


def test_rerun_of_a_running_run_waits_for_the_current_attempt(store):
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("me", {"wf": 3}, TTL)
    assert store.runs.requeue("wf", [D]) == {D: "after-current-attempt"}
    assert store.runs.finish(claim, AttemptResult("succeeded"), BACKOFF) is RunState.PENDING
    assert store.runs.requeue("wf", [D + dt.timedelta(days=1)]) == {D + dt.timedelta(days=1): "missing"}


def test_rerun_resets_the_attempt_budget_of_a_dead_run(store):
    store.runs.ensure("wf", [D], 1)
    claim = store.runs.claim_next("me", {"wf": 1}, TTL)
    store.runs.finish(claim, AttemptResult("failed", "E", "x"), BACKOFF)
    assert store.runs.requeue("wf", [D]) == {D: "queued"}
    [run] = store.runs.status()
    assert (run.state, run.attempts) == (RunState.PENDING, 0)


def test_steps_and_attempt_details_are_kept_per_attempt(store):
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("me", {"wf": 3}, TTL)
    store.runs.set_attempt_details(claim.run_id, parameters={"region": "x"}, kernel_pids=[123], work_dir="/w")
    store.runs.record_step(claim.run_id, "aggregate", "running", started_at=1.0)
    store.runs.record_step(claim.run_id, "aggregate", "succeeded", finished_at=3.0, duration_s=2.0)
    store.runs.add_kernel_pid(claim.run_id, 456)
    attempt = store.runs.attempt(claim.run_id)
    assert attempt.kernel_pids == [123, 456] and attempt.parameters == {"region": "x"} and attempt.work_dir == "/w"
    [run] = store.runs.status()
    assert [(s.notebook, s.state, s.duration_s) for s in run.steps] == [("aggregate", "succeeded", 2.0)]
    assert run.as_json()["state"] == "running"


def test_a_step_still_running_when_its_attempt_ends_takes_the_attempts_outcome(store):
    store.runs.ensure("wf", [D], 3)
    claim = store.runs.claim_next("me", {"wf": 3}, TTL, now=1000.0)
    store.runs.record_step(claim.run_id, "slow", "running", started_at=1001.0)  # its worker was killed: no end
    result = AttemptResult("failed", "RunTimeout", "run exceeded run_timeout of 4s", "slow")
    store.runs.finish(claim, result, BACKOFF, now=1005.0)
    [run] = store.runs.status()
    [step] = run.steps
    assert (step.state, step.duration_s) == ("failed", 4.0)
    assert step.error == "RunTimeout in notebook slow: run exceeded run_timeout of 4s"


def test_marker_after_flowapi_is_one_fact_and_a_second_marker_is_a_redelivery(store):
    flow = Fact("calls", D, "flowapi")
    assert store.facts.record(flow) is FactChange.NEW
    assert store.facts.record(Fact("calls", D, "inbox", {"rows": 1}, "k1")) is FactChange.CONFIRMED
    assert store.facts.record(Fact("calls", D, "inbox", {"rows": 1}, "k1")) is FactChange.CONFIRMED, "same file again"
    assert store.facts.record(Fact("calls", D, "inbox", {"rows": 2}, "k2")) is FactChange.REDELIVERED
    fact, deliveries = store.facts.get("calls", D)
    assert (fact.source, fact.metadata, deliveries) == ("flowapi", {"rows": 2}, 2)
    assert store.facts.count() == 1
