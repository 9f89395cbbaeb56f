"""A kernel template: ipykernel and the ``preload`` modules imported once; each kernel is a fork of it.

``python template.py PRELOAD_JSON``, run by file path under the kernelspec's own interpreter
(standard library only, like ``launcher.py``; it never imports autoflow_watch). Its stdin and
stdout are pipes inherited from the worker alone; it listens on nothing else. Protocol, one JSON
object per line:

- template → worker, once: ``{"ready": true}`` or ``{"unsafe": "one line naming the cause"}``;
- worker → template: ``{"command": [...], "env": {...}, "cwd": ..., "log": ..., "policy": {...}}``;
- template → worker: ``{"pid": N}`` (or ``{"unsafe": ...}`` when it cannot fork safely any more),
  and later ``{"exit": N, "code": C}`` when that kernel has ended (the template reaps it).

The child, before any notebook code: new session, dies with the template, the kernel's log as
stdout/stderr, the request's environment (wholesale), working folder, fresh random state, folder
caches of preloaded modules reset, then ``launcher.become_kernel``: sealed exactly as a spawned
kernel, then ``ipykernel_launcher`` in this process.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import runpy
import select
import signal
import sys
import threading
from pathlib import Path
from typing import Any

KERNEL_MODULES = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel_launcher")
# what ipykernel imports only once a kernel starts (debugger, history, completer…): here, not in each kernel
WARM_MODULES = (
    "debugpy", "debugpy.server.api", "ipykernel.debugger", "IPython.core.history", "IPython.core.completerlib",
    "IPython.core.debugger", "IPython.core.logger", "IPython.core.oinspect", "IPython.extensions.storemagic",
    "IPython.utils.wildcard", "sqlite3", "pdb", "pydoc", "faulthandler", "runpy", "tornado.platform.asyncio",
    "tornado.queues", "tornado.locks", "tornado.gen", "importlib.readers", "importlib.resources.readers",
)  # fmt: skip
PR_SET_PDEATHSIG = 1


_REPLIES = 1  # the pipe to the worker; main() moves it off stdout before importing anything


def _send(message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(_REPLIES, data) :]


def _keep_stdout_for_replies() -> None:
    """Replies on a descriptor of their own; stdout goes to the template's log.

    A preloaded module that prints at import (a banner, a deprecation notice) must not write
    into the protocol: before this, its text reached the worker as a reply and broke every fork.
    """
    global _REPLIES
    _REPLIES = os.dup(1)
    os.dup2(2, 1)


def _load_launcher() -> dict[str, Any]:
    """The launcher's functions (it seals and starts a kernel the one way both starts share)."""
    return runpy.run_path(str(Path(__file__).with_name("launcher.py")), run_name="_afw_sandbox_launcher")


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


_SET_BY_IMPORTS: dict[str, str] = {}  # environment variables the imports set (debugpy sets PYDEVD_USE_FRAME_EVAL)


def _import_all(preload: list[str]) -> str | None:
    """Import ipykernel and ``preload``; the cause why this template cannot fork, or None."""
    if not hasattr(os, "fork"):
        return "this platform has no fork()"
    before = dict(os.environ)
    try:
        return _import_modules(preload)
    finally:
        _SET_BY_IMPORTS.update({k: v for k, v in os.environ.items() if before.get(k) != v})


def _import_modules(preload: list[str]) -> str | None:
    for name in KERNEL_MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:
            return f"the kernelspec's interpreter cannot import {name} ({type(error).__name__}: {error})"
    for name in WARM_MODULES:  # a later or earlier ipykernel may not have them all: then its kernels import them
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    _LAUNCHER["_load_seal"]()  # the seal's code too
    _install_parse_ahead()
    _rehearse()
    for name in preload:
        try:
            importlib.import_module(name)
        except BaseException as error:
            return f"preload module {name!r} cannot be imported ({type(error).__name__}: {error})"
    return _threads_cause()


_PARSED: dict[tuple[str, ...], Any] = {}  # a kernel command line's shape -> its parsed config (None: not cached)
_CONNECTION = "{connection_file}"  # the only part of an ipykernel command line that differs between kernels


def _argv_shape(argv: list[str]) -> tuple[tuple[str, ...] | None, str]:
    """``argv`` with its connection file (``-f FILE``) as a placeholder, and that file; (None, "") if no such shape."""
    if argv.count("-f") != 1 or argv.index("-f") == len(argv) - 1:
        return None, ""
    at = argv.index("-f") + 1
    return (*argv[:at], _CONNECTION, *argv[at + 1 :]), argv[at]


def _parse_ahead(command: list[str]) -> None:
    """Parse a kernel command line's shape here, once: each fork then only puts in its own connection file.

    Parsing is traitlets walking every configurable class and building an argparse parser: about a
    third of a forked kernel's start, and the same work for every kernel. Anything unusual is
    parsed in the kernel itself, as in a spawned one.
    """
    shape, _ = _argv_shape(command[3:]) if command[1:3] == ["-m", "ipykernel_launcher"] else (None, "")
    if shape is None or shape in _PARSED:
        return
    _PARSED[shape] = None
    with contextlib.suppress(BaseException):  # a bad command line fails in the kernel, as when spawned
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp()
        _REAL_PARSE[0](app, list(shape))
        if not app.extra_args and app.cli_config.IPKernelApp.connection_file == _CONNECTION:
            _PARSED[shape] = app.cli_config


_REAL_PARSE: list[Any] = []


def _parse_command_line(self: Any, argv: list[str] | None = None) -> None:
    """``IPKernelApp.parse_command_line``, taking a shape parsed in the template when there is one."""
    argv = list(sys.argv[1:] if argv is None else argv)
    shape, connection_file = _argv_shape(argv)
    parsed = _PARSED.get(shape) if shape is not None else None
    if parsed is None:
        return _REAL_PARSE[0](self, argv)
    import copy

    config = copy.deepcopy(parsed)
    config.IPKernelApp.connection_file = type(config.IPKernelApp.connection_file)(connection_file)
    self.argv, self.cli_config, self.extra_args = argv, config, []
    self.update_config(config)
    return None


def _install_parse_ahead() -> None:
    from ipykernel.kernelapp import IPKernelApp

    _REAL_PARSE.append(IPKernelApp.parse_command_line)
    IPKernelApp.parse_command_line = _parse_command_line  # type: ignore[method-assign]


def _rehearse() -> None:
    """Fill, once, the caches every kernel fills for its first cell: the tokenizer's and IPython's input regexes.

    Module-level caches of compiled patterns only; nothing a notebook can tell from its own.
    """
    with contextlib.suppress(Exception):
        import io
        import tokenize

        list(tokenize.generate_tokens(io.StringIO("x = 1\n").readline))
        from IPython.core.inputtransformer2 import TransformerManager

        TransformerManager().transform_cell("x = 1\n")


def _threads_cause() -> str | None:
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if others:
        return f"a preloaded module started a Python thread ({', '.join(others)}): fork() is unsafe"
    return None


_GENERATORS: list[Any] = []  # random generators the imports made (a module's own Random()): reseeded per kernel


def _find_generators() -> None:
    """Every ``random.Random`` and numpy generator the imports made, so that each kernel reseeds them."""
    import gc
    import random

    numpy = sys.modules.get("numpy")
    kinds: list[type] = [random.Random]
    if numpy is not None:
        kinds += [numpy.random.Generator, numpy.random.RandomState]
    _GENERATORS[:] = [o for o in gc.get_objects() if isinstance(o, tuple(kinds))]


def _reseed(generator: Any) -> None:
    if hasattr(generator, "bit_generator"):  # numpy's Generator: a fresh bit generator's state, from the OS
        generator.bit_generator.state = type(generator.bit_generator)().state
    else:  # random.Random, numpy's RandomState: seeded from the OS
        generator.seed()


def _fresh_state(env: dict[str, str]) -> None:
    """What the template's imports remember that must be the kernel's own: seeds and folders."""
    import random
    import tempfile

    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    for generator in _GENERATORS:
        with contextlib.suppress(Exception):  # a subclass that cannot be reseeded keeps its state
            _reseed(generator)
    tempfile.tempdir = None
    matplotlib: Any = sys.modules.get("matplotlib")
    if matplotlib is not None:  # its config and cache folder are computed once, at import: here the template's
        folder = env.get("MPLCONFIGDIR")
        if folder:
            matplotlib.get_configdir = matplotlib.get_cachedir = lambda: folder
    if env.get("PYTHONNOUSERSITE"):
        import site

        sys.path[:] = [p for p in sys.path if p != getattr(site, "USER_SITE", None)]


def _become(request: dict[str, Any], keep_closed: list[int]) -> None:
    """In the forked child: turn into the requested kernel (never returns)."""
    code = 1
    try:
        os.setsid()
        _die_with_parent()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        for fd in keep_closed:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.update(_SET_BY_IMPORTS)  # as the same imports set them in a spawned kernel
        os.chdir(request["cwd"])
        _fresh_state(request["env"])
        _LAUNCHER["become_kernel"](request.get("policy") or {}, request["command"])
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send({"exit": pid, "code": os.waitstatus_to_exitcode(status)})


def serve() -> None:
    """Answer fork requests until the worker closes the pipe."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    pending = b""
    while True:
        readable, _, _ = select.select([0, wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
            _reap()
        if 0 not in readable:
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return  # the worker is gone or done with us
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            cause = _threads_cause()
            if cause:
                _send({"unsafe": cause})
                continue
            request = json.loads(line)
            _parse_ahead(request["command"])
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _become(request, [wake_r, wake_w, _REPLIES])
            _send({"pid": pid})


def main(argv: list[str]) -> None:
    _die_with_parent()
    _keep_stdout_for_replies()
    if sys.path and os.path.realpath(sys.path[0]) == str(Path(__file__).resolve().parent):
        sys.path.pop(0)  # the template's folder is no business of the notebook
    cause = _import_all(json.loads(argv[0]) if argv else [])
    if cause:
        _send({"unsafe": cause})
        return
    import gc

    _find_generators()
    gc.collect()
    gc.freeze()  # what the template imported is never scanned by a kernel's collector: no copy-on-write of it
    _send({"ready": True})
    serve()


_LAUNCHER = _load_launcher()

if __name__ == "__main__":
    main(sys.argv[1:])
