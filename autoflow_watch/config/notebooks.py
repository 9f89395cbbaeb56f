"""What a notebook declares, and the order a workflow's notebooks must run in."""

from __future__ import annotations

from pathlib import Path

from autoflow_watch.lean_imports import import_without


def _import_papermill_without_hdfs() -> None:
    """Import papermill with its optional HDFS handler left out.

    papermill's I/O module imports pyarrow (and with it numpy) for ``hdfs://`` paths whenever
    pyarrow is installed. The daemon only reads local notebooks' parameters cells here and
    would carry ~40 MB it never uses for as long as it runs; the workers, which execute
    notebooks, import papermill whole.
    """
    import_without("papermill.iorw", "pyarrow")  # papermill catches the ImportError


def inspect_parameters(path: Path) -> frozenset[str]:
    """Names assigned in the notebook's ``parameters``-tagged cell (empty when it has none).

    Uses papermill's own parameter inference, so what we validate against is exactly what
    papermill will later see.
    """
    _import_papermill_without_hdfs()
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node
    from papermill.utils import find_first_tagged_cell_index

    try:
        nb = load_notebook_node(str(path))
    except Exception as error:  # nbformat raises several unrelated types for bad files
        raise ValueError(f"{path.name} is not a readable notebook: {error}") from None
    if find_first_tagged_cell_index(nb, "parameters") < 0:
        return frozenset()
    try:
        return frozenset(p.name for p in _infer_parameters(nb))
    except Exception as error:
        raise ValueError(f"{path.name}: cannot read its parameters cell: {error}") from None


def topological_order(graph: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """Kahn's order of ``graph`` (node -> its upstreams), stable in declaration order.

    Returns ``(order, [])`` or, when there is a cycle, ``(partial, cycle_path)``.
    """
    order: list[str] = []
    done: set[str] = set()
    remaining = [name for name in graph]
    while remaining:
        ready = [n for n in remaining if all(u in done or u not in graph for u in graph[n])]
        if not ready:
            return order, _find_cycle(graph, remaining)
        for name in ready:
            order.append(name)
            done.add(name)
        remaining = [n for n in remaining if n not in done]
    return order, []


def _find_cycle(graph: dict[str, list[str]], candidates: list[str]) -> list[str]:
    path: list[str] = []
    node = candidates[0]
    while node not in path:
        path.append(node)
        node = next(u for u in graph[node] if u in candidates)
    return [*path[path.index(node) :], node]


def installed_kernels() -> set[str]:
    """Names of the Jupyter kernels this environment can start, as papermill will look them up."""
    from jupyter_client.kernelspec import KernelSpecManager

    return set(KernelSpecManager().find_kernel_specs())
