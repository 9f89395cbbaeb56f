"""``autoflow-watch import-autoflow``: AutoFlow's ``workflows.yml`` as an equivalent TOML config."""

from autoflow_watch.autoflow_import.command import import_autoflow

__all__ = ["import_autoflow"]
