"""The state store: facts, runs, attempts and notebook steps, behind SQLAlchemy.

The records and enums (:mod:`autoflow_watch.store.records`) are what every layer speaks, so
importing them must not import SQLAlchemy: a worker process needs the words, not the
database. The store's classes are therefore loaded on first use (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoflow_watch.store.engine import StoreError
    from autoflow_watch.store.handle import Store
    from autoflow_watch.store.records import AttemptResult, Claim, Fact, FactChange, RunState, RunStatus

_WHERE = {
    "Store": "autoflow_watch.store.handle",
    "StoreError": "autoflow_watch.store.engine",
    **{
        name: "autoflow_watch.store.records"
        for name in ("AttemptResult", "Claim", "Fact", "FactChange", "RunState", "RunStatus")
    },
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)


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
