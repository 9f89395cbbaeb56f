"""What comes back from a Dask cluster is data, never code: plain bytes and JSON-like values only.

Dask's protocol unpickles in several places (a task's result, a task's exception and traceback,
the type of a serialised object, any ``__Pickled__`` part of a message), so a worker or a
scheduler that is not ours could run code in the daemon by returning or raising a crafted
pickle. Two measures close that:

- The daemon's client deserialises results with ``msgpack`` only
  (``Client(deserializers=["msgpack"])``), and a task returns a plain dict of bytes, strings and
  numbers (:func:`to_wire`), checked field by field on arrival (:func:`from_wire`).
- :func:`refuse_pickles_from_the_cluster` replaces the unpickler that Dask's protocol uses in the
  daemon's process by one that builds only plain builtin values and builtin exceptions; anything
  else becomes a :class:`RefusedPickle` (an exception naming what was refused), never an import
  or a call. The daemon still *sends* pickles (the task function and its arguments): that is the
  direction Dask needs them in.
"""

from __future__ import annotations

import builtins
import io
import pickle
import threading
from typing import Any

from autoflow_watch.logs import get_logger

log = get_logger("autoflow_watch.dask")

SERIALIZERS = ["dask", "pickle", "msgpack"]  # what the daemon sends with
DESERIALIZERS = ["msgpack"]  # what it accepts back
_PLAIN = frozenset(
    {"bytes", "bytearray", "str", "int", "float", "complex", "bool", "list", "tuple", "dict", "set", "frozenset"}
    | {"slice", "range", "NoneType"}
)
_FAILURE_FIELDS: dict[str, tuple[type, ...]] = {  # NotebookFailure's fields
    "error_type": (str,),
    "message": (str,),
    "cell_index": (int, type(None)),
    "code_ran": (bool,),
    "traceback": (str,),
}


class RefusedPickle(Exception):
    """Stands for something the cluster sent as a pickle that the daemon would not unpickle."""

    def __init__(self, what: str) -> None:
        super().__init__(f"the cluster sent a pickled {what}; the daemon does not unpickle what the cluster sends")
        self.what = what


class _PlainUnpickler(pickle.Unpickler):
    """Builds builtin values and builtin exceptions; refuses every other class or function."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins":
            value = getattr(builtins, name, None)
            if name in _PLAIN or (isinstance(value, type) and issubclass(value, BaseException)):
                return value
        raise pickle.UnpicklingError(f"{module}.{name}")


_told = threading.Event()


def plain_loads(data: bytes | bytearray | memoryview, *, buffers: Any = ()) -> Any:
    """``pickle.loads`` for data from the cluster: plain values only, a :class:`RefusedPickle` for the rest."""
    try:
        return _PlainUnpickler(io.BytesIO(bytes(data)), buffers=buffers or None).load()
    except Exception as error:
        what = str(error) if isinstance(error, pickle.UnpicklingError) else type(error).__name__
        if not _told.is_set():
            _told.set()
            log.warning("dask.pickle_refused", what=what[:200], hint="a task or the cluster sent a pickle: not loaded")
        return RefusedPickle(what[:200])


class _PickleModule:
    """The stdlib ``pickle`` module as ``distributed.client`` sees it, with :func:`plain_loads` for ``loads``."""

    loads = staticmethod(plain_loads)

    def __getattr__(self, name: str) -> Any:
        return getattr(pickle, name)


def clean_exception(exception: Any = None, traceback: Any = None, **_: Any) -> tuple[Any, Any, None]:
    """Dask's ``clean_exception`` for the daemon: the exception as plain data, the cluster's traceback dropped."""
    if isinstance(exception, (bytes, bytearray)):
        exception = plain_loads(exception)
    elif isinstance(exception, str):
        exception = Exception(exception)
    if exception is not None and not isinstance(exception, BaseException):
        exception = RefusedPickle(type(exception).__name__)
    return type(exception), exception, None


def refuse_pickles_from_the_cluster() -> None:
    """Make Dask's protocol in this process unpickle plain values only (idempotent)."""
    import distributed.client
    import distributed.core
    import distributed.protocol.pickle as dask_pickle

    dask_pickle.loads = plain_loads  # used by the protocol (core, serialize) and distributed.core
    distributed.client.loads = plain_loads  # imported by name there
    distributed.client.pickle = _PickleModule()  # type: ignore[assignment]  # workers' warnings
    distributed.core.clean_exception = clean_exception  # task errors: no traceback object from outside
    distributed.client.clean_exception = clean_exception


def to_wire(
    worker: str,
    kernel_pid: int | None,
    duration_s: float,
    executed: bytes | None,
    kernel_log: bytes,
    failure: dict[str, Any] | None = None,
    lost: str | None = None,
) -> dict[str, Any]:
    """A task's return as plain data (msgpack carries it without pickle)."""
    return {
        "worker": worker,
        "kernel_pid": kernel_pid,
        "duration_s": float(duration_s),
        "executed": executed,
        "kernel_log": kernel_log,
        "failure": failure,
        "lost": lost,
    }


class BadReturn(Exception):
    """A task's return that is not what :func:`to_wire` makes."""


def _field(data: dict[str, Any], name: str, types: tuple[type, ...]) -> Any:
    value = data.get(name)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise BadReturn(f"field {name!r} is {type(value).__name__}")
    return value


def from_wire(data: Any) -> dict[str, Any]:
    """Check a task's return field by field; raise :class:`BadReturn` for anything else."""
    if isinstance(data, RefusedPickle):
        raise BadReturn(str(data))
    if not isinstance(data, dict):
        raise BadReturn(f"a {type(data).__name__}, not a dict")
    checked = {
        "worker": _field(data, "worker", (str,)),
        "kernel_pid": _field(data, "kernel_pid", (int, type(None))),
        "duration_s": float(_field(data, "duration_s", (int, float))),
        "executed": _field(data, "executed", (bytes, type(None))),
        "kernel_log": _field(data, "kernel_log", (bytes,)),
        "lost": _field(data, "lost", (str, type(None))),
        "failure": None,
    }
    failure = _field(data, "failure", (dict, type(None)))
    if failure is not None:
        checked["failure"] = {name: _field(failure, name, kinds) for name, kinds in _FAILURE_FIELDS.items()}
    return checked
