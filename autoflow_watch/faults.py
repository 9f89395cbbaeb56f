"""Named points where a test may kill the daemon for real (kill -9 of itself), to prove recovery.

``AUTOFLOW_WATCH_FAULT=<point>`` in the daemon's environment makes it ``SIGKILL`` itself when it
reaches that point; without the variable a point costs one dictionary lookup. Points:
``after-record`` (a report's success is recorded in the store, its folder not yet swapped in).
"""

from __future__ import annotations

import os
import signal

VARIABLE = "AUTOFLOW_WATCH_FAULT"


def point(name: str) -> None:
    """Die here, as a power cut would, when the environment names this point."""
    if os.environ.get(VARIABLE) == name:
        os.kill(os.getpid(), signal.SIGKILL)
