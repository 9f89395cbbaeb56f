"""``autoflow-watch sandbox-check``: one sealed kernel of the configured kernelspec, and what it may and may not do.

The kernel is sealed as the first workflow's kernels are (its grants, the daemon's
forbidden list) whatever ``sandbox`` says, so the command checks the host. Each forbidden
action must fail where this host claims to enforce it; each allowed one must work.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from jupyter_core.utils import run_sync

from autoflow_watch.config import Config
from autoflow_watch.daemon.jobs import sandbox_spec
from autoflow_watch.executor.job import KernelProfile, SandboxSpec
from autoflow_watch.executor.kernel_sandbox import describe_enforcement, host_enforcement
from autoflow_watch.executor.warm_kernels import WarmKernels

PROBE = r"""
import errno, json, os, socket, tempfile
T = json.loads({targets!r})
seen = {{}}
def attempt(name, action):
    try:
        action()
        seen[name] = "works"
    except OSError as error:
        seen[name] = "blocked" if error.errno in (errno.EACCES, errno.EPERM) else "error: " + str(error)[:120]
    except Exception as error:
        seen[name] = "error: " + repr(error)[:120]
def read(path):
    os.listdir(path) if os.path.isdir(path) else open(path, "rb").close()
def unix(address):
    s = socket.socket(socket.AF_UNIX); s.settimeout(2)
    try: s.connect(address)
    finally: s.close()
attempt("read the config file", lambda: read(T["config"]))
attempt("read the work folder", lambda: read(T["work"]))
attempt("write next to the notebooks", lambda: open(os.path.join(T["notebooks"], ".afw-sandbox-check"), "w").close())
attempt("read /proc/<checker>/environ", lambda: read("/proc/%d/environ" % T["pid"]))
attempt("signal the checker", lambda: os.kill(T["pid"], 0))
attempt("connect to a TCP port not granted", lambda: socket.create_connection(("127.0.0.1", T["port"]), 3).close())
attempt("connect to an abstract socket outside", lambda: unix(T["abstract"]))
attempt("read the notebooks folder", lambda: read(T["notebooks"]))
attempt("write a temporary file", lambda: tempfile.NamedTemporaryFile().close())
attempt("resolve a host name", lambda: socket.getaddrinfo("localhost", 80))
attempt("import json, ssl, sqlite3", lambda: [__import__(m) for m in ("json", "ssl", "sqlite3")])
for i, path in enumerate(T["read_paths"]):
    attempt("read read_paths[%d]" % i, lambda p=path: read(p))
print("SEEN " + json.dumps(seen))
"""
FORBIDDEN = {
    "read the config file": "files",
    "read the work folder": "files",
    "write next to the notebooks": "files",
    "read /proc/<checker>/environ": "files",
    "signal the checker": "scopes",
    "connect to a TCP port not granted": "tcp",
    "connect to an abstract socket outside": "scopes",
}


def sandbox_check(config: Config) -> int:
    """Print what a sealed kernel saw, one line per action; 0 when all holds, 2 otherwise."""
    found = host_enforcement()
    out = sys.stdout
    out.write(describe_enforcement("best-effort", found) + "\n")
    if config.app.execution.sandbox.value == "off":
        out.write('note: this config sets sandbox = "off": its kernels are NOT sealed (this check seals one anyway)\n')
    config.app.paths.work.mkdir(parents=True, exist_ok=True)  # as the daemon does at start
    with contextlib.ExitStack() as stack:
        listener = stack.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        abstract = stack.enter_context(socket.socket(socket.AF_UNIX))
        name = f"\0afw-sandbox-check-{os.getpid()}"
        abstract.bind(name)
        abstract.listen(1)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="afw-check-")))
        spec, read_paths = _spec(config)
        targets = {
            "config": str(config.source),
            "work": str(config.app.paths.work),
            "notebooks": str(config.app.paths.notebooks),
            "pid": os.getpid(),
            "port": listener.getsockname()[1],
            "abstract": name,
            "read_paths": read_paths,
        }
        seen = _probe(config, spec, folder, targets)
    if seen is None:
        out.write("FAILED: the sealed kernel did not start or did not answer (see the log above)\n")
        return 2
    return _report(seen, found, out)


def _spec(config: Config) -> tuple[SandboxSpec, list[str]]:
    workflow = next(iter(config.workflows.values()), None)
    if workflow is None:
        return SandboxSpec(), []
    spec = replace(sandbox_spec(config, workflow), mode="best-effort")
    return spec, [str(p) for p in workflow.read_paths]


def _probe(config: Config, spec: SandboxSpec, folder: Path, targets: dict[str, Any]) -> dict[str, str] | None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDENTIALS_DIRECTORY")}
    kernels = WarmKernels(0, env, folder, lambda pid: None, lambda pid: None)
    profile = KernelProfile(config.app.execution.kernel, str(config.app.paths.notebooks), False, spec)
    lines: list[str] = []
    try:
        kernel, _ = kernels.take(profile, None)
        client = kernel.manager.client()
        client.start_channels()
        run_sync(client.wait_for_ready)(timeout=60)

        def output(message: dict[str, Any]) -> None:
            if message["header"]["msg_type"] == "stream":
                lines.extend(message["content"]["text"].splitlines())

        code = PROBE.format(targets=json.dumps(targets))
        run_sync(client.execute_interactive)(code, timeout=60, output_hook=output)
        kernels.discard(kernel, now=True)
    except Exception as error:
        sys.stderr.write(f"sandbox-check: {type(error).__name__}: {error}\n")
        return None
    finally:
        kernels.close()
    for line in lines:
        if line.startswith("SEEN "):
            return dict(json.loads(line[5:]))
    return None


def _report(seen: dict[str, str], found: dict[str, Any], out: Any) -> int:
    holds = True
    for action, result in seen.items():
        needs = FORBIDDEN.get(action)
        if needs is None:
            ok = result == "works"
            verdict = "ok (allowed)" if ok else f"FAILED: should work, {result}"
        elif found[needs]:
            ok = result == "blocked"
            verdict = "ok (blocked)" if ok else f"FAILED: should be blocked, {result}"
        else:
            ok = True
            verdict = f"not enforced on this host ({result})"
        holds = holds and ok
        out.write(f"{verdict:<44} {action}\n")
    out.write("sandbox holds\n" if holds else "sandbox does NOT hold\n")
    return 0 if holds else 2
