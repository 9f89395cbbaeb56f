"""The state store: facts, runs, attempts and notebook steps, behind SQLAlchemy.

The records and enums it hands out live in :mod:`autoflow_watch.vocabulary`, below every
layer, so that a worker process can speak them without importing SQLAlchemy; they are
re-exported here so that the store's callers have one import.
"""

from __future__ import annotations

from autoflow_watch.store.engine import StoreError
from autoflow_watch.store.handle import Store
from autoflow_watch.vocabulary import AttemptResult, Claim, Fact, FactChange, RunState, RunStatus

__all__ = [
    "AttemptResult",
    "Claim",
    "Fact",
    "FactChange",
    "RunState",
    "RunStatus",
    "Store",
    "StoreError",
]
