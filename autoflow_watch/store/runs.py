"""Run records, one handle: the state machine, the attempt and step journals, the read models.

Each part lives in its own module (``run_states``, ``claims``, ``attempts``, ``steps``,
``run_views``); :class:`RunStore` puts them behind the one ``store.runs`` the daemon and the
commands use.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from autoflow_watch.store.attempts import AttemptJournal
from autoflow_watch.store.claims import new_run_id
from autoflow_watch.store.executions import ExecutionJournal
from autoflow_watch.store.portal import PortalRecords
from autoflow_watch.store.run_states import FINISHED, RunStateMachine, retry_delay
from autoflow_watch.store.run_views import RunViews
from autoflow_watch.store.steps import StepJournal
from autoflow_watch.vocabulary import AttemptRecord

__all__ = ["FINISHED", "RunStore", "new_run_id", "retry_delay"]


class RunStore:
    """``store.runs``: the run state machine's methods, plus the journals and read models beside it."""

    def __init__(self, engine: Engine) -> None:
        self.states = RunStateMachine(engine)
        self.attempts = AttemptJournal(engine)
        self.steps = StepJournal(engine)
        self.executions = ExecutionJournal(engine)  # what a later attempt may reuse (docs/reuse.md)
        self.views = RunViews(engine)
        self.portal = PortalRecords(engine)  # what the outbox pages read, per workflow
        # the state machine
        self.ensure = self.states.ensure
        self.requeue = self.states.requeue
        self.claim_next = self.states.claim_next
        self.renew = self.states.renew
        self.expired = self.states.expired
        self.finish = self.states.finish
        self.finish_if_current = self.states.finish_if_current
        # the journals
        self.set_attempt_details = self.attempts.set_details
        self.add_kernel_pid = self.attempts.add_kernel_pid
        self.record_step = self.steps.record
        # the read models
        self.existing = self.views.existing
        self.status = self.views.status
        self.counts = self.views.counts

    def attempt(self, run_id: str) -> AttemptRecord | None:
        """One attempt, typed: its outcome, error, parameters, kernel pids and holder."""
        return self.attempts.get(run_id)

    def attempts_of(self, workflow: str, reference_date: dt.date) -> list[AttemptRecord]:
        """Every attempt of one run, oldest first."""
        return self.attempts.of_run(workflow, reference_date)
