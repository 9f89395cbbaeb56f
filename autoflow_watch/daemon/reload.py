"""SIGHUP: the config file read again, and what of it a running daemon can apply.

A new config that does not load is refused whole (each problem said) and the old one kept.
One that loads is applied, except for what only a restart applies: the paths are kept as
they were, and a changed FlowAPI, FlowDB, notify/metrics or executor section is said to need
a restart (the running ones go on as configured before).
"""

from __future__ import annotations

from autoflow_watch.config import Config, ConfigError, load_config
from autoflow_watch.daemon.executors import executor_changed
from autoflow_watch.logs import get_logger

log = get_logger("autoflow_watch.daemon")


def reread(old: Config) -> Config | None:
    """The config file as it is now, with what needs a restart said and the paths kept; None when refused."""
    try:
        new = load_config(old.source)
    except ConfigError as error:
        for line in error.problems:
            log.error("config.reload_refused", problem=line)
        log.error("config.reload_refused.kept_old", config=str(old.source))
        return None
    if new.app.paths != old.app.paths:
        log.warning("config.paths_changed_need_restart", config=str(new.source))
        new = Config(new.source, new.app.model_copy(update={"paths": old.app.paths}), new.workflows)
    if new.app.flowapi != old.app.flowapi:
        log.warning("config.flowapi_changed_need_restart", config=str(new.source))
    if (new.app.notify, new.app.metrics) != (old.app.notify, old.app.metrics):
        log.warning("config.notify_or_metrics_changed_need_restart", config=str(new.source))
    if new.app.flowdb != old.app.flowdb:
        log.warning("config.flowdb_changed_need_restart", config=str(new.source))
    if executor_changed(old, new):
        log.warning("config.backend_changed_need_restart", config=str(new.source))
    return new
