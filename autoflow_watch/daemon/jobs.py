"""From the config and a claimed run to what the executor needs: the job, the environment, the pool's settings."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from autoflow_watch.config import Config, Workflow
from autoflow_watch.config.model import KernelStart
from autoflow_watch.config.sandbox_paths import forbidden_paths
from autoflow_watch.config.stencil import date_ranges, ranges_as_strings
from autoflow_watch.executor.base import Hint, PoolSettings
from autoflow_watch.executor.job import KernelProfile, NotebookJob, RunJob, SandboxSpec
from autoflow_watch.secrets import TOKEN_ENV
from autoflow_watch.vocabulary import Claim, KeptExecution


def build_job(config: Config, workflow: Workflow, claim: Claim, kept: list[KeptExecution] | None = None) -> RunJob:
    """The attempt ``claim`` of ``workflow`` as its executor needs it; ``kept``: what it may reuse."""
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
            mapping=nb.mapping,
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
        flowapi_token=workflow.flowapi_token,
        sandbox=sandbox_spec(config, workflow),
        max_notebook_bytes=config.app.execution.max_notebook_bytes,
        preload=list(config.app.execution.preload) if config.app.execution.kernel_start is KernelStart.FORK else None,
        kept=list(kept or []),
    )


def sandbox_spec(config: Config, workflow: Workflow) -> SandboxSpec:
    """How ``workflow``'s kernels are sealed: its grants, FlowAPI's port for token workflows, what is forbidden."""
    app = config.app
    ports = set(workflow.connect_ports)
    if workflow.flowapi_token and app.flowapi is not None:
        url = urlsplit(app.flowapi.url)
        ports.add(url.port or (443 if url.scheme == "https" else 80))
    read = [str(p) for p in workflow.read_paths]
    if app.flowapi is not None and isinstance(app.flowapi.ssl_certificate, Path):
        read.append(str(app.flowapi.ssl_certificate))
    return SandboxSpec(
        mode=app.execution.sandbox.value,
        read=tuple(read),
        write=tuple(str(p) for p in workflow.write_paths),
        deny=tuple(sorted({str(path) for _, path in forbidden_paths(app, config.source)})),
        connect_ports=tuple(sorted(ports)),
    )


def worker_environment(config: Config, json_logs: bool) -> dict[str, str]:
    """The workers' environment: the daemon's minus every secret (a job hands its kernels the token)."""
    env = dict(os.environ)
    env.pop(TOKEN_ENV, None)
    env.pop("PGPASSWORD", None)  # libpq's password, for the daemon's own FlowDB connection only
    env.pop("MPLBACKEND", None)  # a non-inline backend would stop figures from reaching the report
    if config.app.flowapi is not None and config.app.flowapi.token_env:
        env.pop(config.app.flowapi.token_env, None)
    for key in list(env):
        if key.startswith("CREDENTIALS_DIRECTORY"):
            env.pop(key)
    env["AUTOFLOW_WATCH_LOG_JSON"] = "1" if json_logs else "0"
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def pool_settings(config: Config) -> PoolSettings:
    execution = config.app.execution
    renders = any(nb.report and nb.report.formats for wf in config.workflows.values() for nb in wf.notebooks)
    return PoolSettings(
        execution.max_parallel_runs,
        execution.warm_kernels,
        execution.worker_max_runs,
        renders,
        fork=execution.kernel_start is KernelStart.FORK,
        preload=tuple(execution.preload),
    )


def kernel_hint(config: Config, token: str | None) -> Hint:
    """The kernels an idle worker keeps ready: each workflow's first notebook's, in config order."""
    profiles: list[KernelProfile] = []
    for workflow in config.workflows.values():
        if workflow.notebooks:
            nb = workflow.notebooks[0]
            profile = KernelProfile(
                workflow.kernel,
                str(Path(nb.path).parent),
                workflow.flowapi_token and bool(token),
                sandbox_spec(config, workflow),
            )
            if profile not in profiles:
                profiles.append(profile)
    uses_token = any(p.with_token for p in profiles)
    return Hint(profiles[: max(config.app.execution.warm_kernels, 1)], token if uses_token else None)
