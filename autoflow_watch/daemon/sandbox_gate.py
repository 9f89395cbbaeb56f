"""The sandbox at start: say what this host enforces, refuse ``sandbox = "required"`` when it is not all there."""

from __future__ import annotations

from autoflow_watch.config import Config
from autoflow_watch.executor.kernel_sandbox import describe_enforcement, host_enforcement, missing_for_required
from autoflow_watch.logs import get_logger

log = get_logger("autoflow_watch.daemon")


def enforcement_line(config: Config) -> str:
    """One line: the mode and what this host's Landlock enforces of it."""
    return describe_enforcement(config.app.execution.sandbox.value)


def refusal(config: Config) -> str | None:
    """Why ``sandbox = "required"`` cannot start here (one line), or None."""
    if config.app.execution.sandbox.value != "required":
        return None
    found = host_enforcement()
    missing = missing_for_required(found)
    if not missing:
        return None
    return (
        f'sandbox = "required" but this host does not enforce {", ".join(missing)} (Landlock ABI {found["abi"]};'
        ' files need Linux 5.13, TCP 6.7, signals 6.12): upgrade the kernel, or set [execution] sandbox = "best-effort"'
    )


def log_at_start(config: Config) -> None:
    """The start-up log line: what is enforced, or that the sandbox is off."""
    mode = config.app.execution.sandbox.value
    found = host_enforcement()
    fields = {
        "mode": mode,
        "abi": found["abi"],
        "files": found["files"],
        "tcp": found["tcp"],
        "signals": found["scopes"],
    }
    if mode == "off":
        log.warning("sandbox.off", message=enforcement_line(config))
    elif missing_for_required(found):
        log.warning("sandbox.partial", message=enforcement_line(config), **fields)
    else:
        log.info("sandbox.enforced", message=enforcement_line(config), **fields)
