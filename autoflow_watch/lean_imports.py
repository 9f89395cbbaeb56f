"""Importing a library with one of its optional dependencies held back, where that dependency would only cost."""

from __future__ import annotations

import importlib
import sys


def import_without(name: str, held: str) -> None:
    """Import ``name`` as if ``held`` were not installed (``name`` catches the ImportError and does without).

    Nothing is done when either is imported already: a process that has ``held`` keeps using it.
    """
    if name in sys.modules or held in sys.modules:
        return
    sys.modules[held] = None  # type: ignore[assignment]
    try:
        importlib.import_module(name)
    finally:
        del sys.modules[held]
