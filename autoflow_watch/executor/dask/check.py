"""``validate`` with ``backend = "dask"``: the scheduler answers, and every worker has the kernels the config names."""

from __future__ import annotations

from typing import Any

from autoflow_watch.config import Config
from autoflow_watch.config.errors import problem
from autoflow_watch.executor.dask.link import connect

CHECK_TIMEOUT_S = 10.0


def cluster_problems(config: Config) -> list[str]:
    """One line per problem: no scheduler, no ``distributed``, a worker without a named kernel."""
    execution = config.app.execution
    address = execution.dask_scheduler or ""
    try:
        client = connect(address, execution.dask_tls, timeout=CHECK_TIMEOUT_S)
    except ImportError:
        return [problem(config.source, "execution.backend", 'dask needs `pip install "autoflow-watch[dask]"`')]
    except Exception as error:
        why = " ".join(str(error).split())[:300] or type(error).__name__
        return [
            problem(
                config.source,
                "execution.dask_scheduler",
                f"the Dask scheduler at {address} does not answer ({why}); start it or fix the address",
            )
        ]
    try:
        return _kernel_problems(config, client)
    finally:
        client.close()


def _kernel_problems(config: Config, client: Any) -> list[str]:
    from autoflow_watch.executor.dask.task import kernel_names

    wanted: dict[str, str] = {}  # kernel name -> the key path that names it
    for index, spec in enumerate(config.app.workflow):
        key = f"workflow[{index}].kernel" if spec.kernel else "execution.kernel"
        wanted.setdefault(spec.kernel or config.app.execution.kernel, key)
    if not wanted:
        return []
    answers = client.run(kernel_names, sorted(wanted), on_error="return")
    if not answers:
        message = "the scheduler answers but no worker is connected to it; start `dask worker`"
        return [problem(config.source, "execution.dask_scheduler", message)]
    problems = []
    for worker, answer in sorted(answers.items()):
        if isinstance(answer, BaseException):
            problems.append(problem(config.source, "execution.kernel", f"Dask worker {worker} failed: {answer!r}"))
            continue
        for name in answer["missing"]:
            problems.append(
                problem(
                    config.source,
                    wanted[name],
                    f"Dask worker {worker} has no Jupyter kernel named {name!r} "
                    f"(it has: {', '.join(answer['installed']) or 'none'}); install it in that worker's environment",
                )
            )
    return problems
