"""From a claimed run to a worker's job and environment."""

from __future__ import annotations

import os
from pathlib import Path

from autoflow_watch.config import Config, Workflow
from autoflow_watch.config.stencil import date_ranges, ranges_as_strings
from autoflow_watch.executor.job import NotebookJob, RunJob
from autoflow_watch.store.records import Claim

TOKEN_ENV = "FLOWAPI_TOKEN"


def build_job(config: Config, workflow: Workflow, claim: Claim) -> RunJob:
    work_dir = config.app.paths.work / workflow.name / claim.reference_date.isoformat() / claim.run_id
    notebooks = [
        NotebookJob(
            name=nb.name,
            path=str(nb.path),
            upstream=list(nb.upstream),
            declared=sorted(nb.declared),
            source_sha256=nb.source_sha256,
            formats=list(nb.report.formats) if nb.report else [],
            show_code=nb.report.show_code if nb.report else False,
            pdf_engine=nb.report.pdf_engine if nb.report else "weasyprint",
        )
        for nb in workflow.notebooks
    ]
    return RunJob(
        workflow=workflow.name,
        reference_date=claim.reference_date.isoformat(),
        run_id=claim.run_id,
        attempt=claim.attempt,
        started_at=claim.started_at,
        date_ranges=ranges_as_strings(date_ranges(workflow.stencil, claim.reference_date)),
        parameters=dict(workflow.parameters),
        notebooks=notebooks,
        work_dir=str(Path(work_dir)),
        kernel=workflow.kernel,
        cell_timeout_s=workflow.cell_timeout.total_seconds(),
        run_timeout_s=workflow.run_timeout.total_seconds(),
        kernel_start_timeout_s=config.app.execution.kernel_start_timeout.total_seconds(),
        flowapi_url=config.app.flowapi.url if config.app.flowapi else None,
        paper_size=config.app.outbox.paper_size,
    )


def worker_environment(config: Config, workflow: Workflow, token: str | None, json_logs: bool) -> dict[str, str]:
    """The daemon's environment minus every secret, plus the token only where it was asked for."""
    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)
    env.pop("MPLBACKEND", None)  # a non-inline backend would stop figures from reaching the report
    if config.app.flowapi is not None and config.app.flowapi.token_env:
        env.pop(config.app.flowapi.token_env, None)
    for key in list(env):
        if key.startswith("CREDENTIALS_DIRECTORY"):
            env.pop(key)
    if workflow.flowapi_token and token:
        env[TOKEN_ENV] = token
    env["AUTOFLOW_WATCH_LOG_JSON"] = "1" if json_logs else "0"
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env
