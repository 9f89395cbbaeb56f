"""What the daemon's parts share: the config in force, the store, and a way to wake the loop."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from autoflow_watch.config import Config
from autoflow_watch.store import Store


@dataclass
class Context:
    """What the daemon's parts share: config, store, this daemon's lease owner name, and the main loop's wake-ups."""

    config: Config
    store: Store
    owner: str
    wake: threading.Event = field(default_factory=threading.Event)
    plan_requested: threading.Event = field(default_factory=threading.Event)

    def prompt_planning(self) -> None:
        """A source saw something new: plan again soon (the loop coalesces prompts)."""
        self.plan_requested.set()
        self.wake.set()
