"""The ``[execution]`` keys of ``backend = "dask"``: the scheduler's address and Dask's TLS files."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from autoflow_watch.config.errors import problem
from autoflow_watch.config.model import AppConfig, ExecutionConfig

INSECURE = (
    "tcp:// is neither encrypted nor authenticated: whoever reaches the scheduler runs code on its workers "
    "and reads their tasks (FlowAPI tokens included); use tls:// with dask_tls, or set dask_insecure = true "
    "in [execution] if only trusted hosts can reach it"
)
_ADDRESS = re.compile(r"^(tcp|tls)://[^\s/:]+(:\d{1,5})?/?$")


def dask_problems(source: Path, execution: ExecutionConfig) -> list[str]:
    """What is wrong with the Dask keys, one line each (nothing when the backend is local and they are unset)."""
    address = execution.dask_scheduler
    if execution.backend != "dask":
        keys = (
            ("dask_scheduler", address),
            ("dask_tls", execution.dask_tls),
            ("dask_insecure", execution.dask_insecure),
        )
        unused = [key for key, value in keys if value]
        return [problem(source, f"execution.{key}", 'only used with backend = "dask"') for key in unused]
    if not address:
        return [
            problem(source, "execution.dask_scheduler", 'backend = "dask" needs dask_scheduler = "tcp://host:8786"')
        ]
    if not _ADDRESS.match(address):
        return [
            problem(
                source,
                "execution.dask_scheduler",
                f"expected tcp://host:port or tls://host:port (the address `dask scheduler` prints), got {address!r}",
            )
        ]
    tls = execution.dask_tls
    if address.startswith("tls://") and tls is None:
        return [problem(source, "execution.dask_tls", "a tls:// scheduler needs dask_tls = { ca_file, cert, key }")]
    if address.startswith("tcp://") and tls is not None:
        return [problem(source, "execution.dask_scheduler", "dask_tls is set: use the scheduler's tls:// address")]
    if address.startswith("tcp://") and not execution.dask_insecure:
        return [problem(source, "execution.dask_scheduler", INSECURE)]
    if tls is None:
        return []
    return [
        problem(source, f"execution.dask_tls.{key}", f"file {path} does not exist or is not readable")
        for key, path in (("ca_file", tls.ca_file), ("cert", tls.cert), ("key", tls.key))
        if not path.is_file()
    ]


def resolve_dask_paths(app: AppConfig, absolute: Callable[[Path], Path]) -> AppConfig:
    """``dask_tls`` files relative to the config's folder (``absolute`` turns one path into an absolute one)."""
    tls = app.execution.dask_tls
    if tls is None:
        return app
    files = {key: absolute(getattr(tls, key)) for key in ("ca_file", "cert", "key")}
    execution = app.execution.model_copy(update={"dask_tls": tls.model_copy(update=files)})
    return app.model_copy(update={"execution": execution})
