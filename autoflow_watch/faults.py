"""Named points where a test may stop or kill the daemon for real, to prove recovery and fencing.

``AUTOFLOW_WATCH_FAULT=<point>[:<signal>]`` in the daemon's environment makes it send itself the
signal (default ``SIGKILL``, as a power cut; ``SIGSTOP`` pauses it as a frozen VM would) when it
reaches that point; without the variable a point costs one dictionary lookup. Points:
``before-record`` (a finished report is staged, the store not yet asked) and ``after-record``
(its success is recorded in the store, its folder not yet swapped in).
"""

from __future__ import annotations

import os
import signal

VARIABLE = "AUTOFLOW_WATCH_FAULT"


def point(name: str) -> None:
    """Stop or die here when the environment names this point."""
    wanted = os.environ.get(VARIABLE)
    if not wanted:
        return
    where, _, how = wanted.partition(":")
    if where == name:
        os.kill(os.getpid(), signal.Signals[how or "SIGKILL"])
