"""``python -m autoflow_watch``."""

from autoflow_watch.cli import entry

entry()
