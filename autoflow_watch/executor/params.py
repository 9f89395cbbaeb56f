"""The parameters a notebook receives: only those its ``parameters`` cell declares."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from autoflow_watch.executor.job import NotebookJob, RunJob
from autoflow_watch.secrets import public_parameters


def _run_level(job: RunJob) -> dict[str, Any]:
    """What every notebook of the run is offered, before upstream and workflow parameters."""
    values: dict[str, Any] = {
        "reference_date": job.reference_date,
        "date_ranges": job.date_ranges,
        "workflow_name": job.workflow,
        "run_id": job.run_id,
    }
    if job.flowapi_url:
        values["flowapi_url"] = job.flowapi_url
    return values


def notebook_parameters(job: RunJob, notebook: NotebookJob, executed: dict[str, Path]) -> dict[str, Any]:
    """Offer every parameter DESIGN.md lists, then keep the declared ones.

    Workflow parameters come last so an analyst's explicit value is not overridden by
    accident; upstream names cannot collide with them (the config forbids it by
    validation of declared names).
    """
    offered = _run_level(job)
    for upstream in notebook.upstream:
        offered[upstream] = str(executed[upstream])
    offered.update(job.parameters)
    if notebook.mapping is not None:  # AutoFlow's mapping: exactly the mapped names (sources checked at load)
        return {name: offered[source] for name, source in notebook.mapping.items()}
    declared = set(notebook.declared)
    return {name: value for name, value in offered.items() if name in declared}


def run_parameters(job: RunJob) -> dict[str, Any]:
    """The run-level parameters as recorded in the store and the manifest (secrets excluded)."""
    return public_parameters({**_run_level(job), **job.parameters})


def identity_parameters(job: RunJob, notebook: NotebookJob) -> dict[str, Any]:
    """What ``notebook`` receives, with what differs by nature between attempts made constant.

    ``run_id`` and the upstream notebooks' paths (an upstream's identity is checked on its own:
    it must itself have been reused) — the parameters a reused execution must have had.
    """
    same = dataclasses.replace(job, run_id="", kept=[])
    return notebook_parameters(same, notebook, {name: Path("upstream") for name in notebook.upstream})
