"""``autoflow-watch``: run, validate, status, rerun, backfill, import-autoflow, db upgrade.

stdout carries only a command's own output; logs and errors go to stderr. Exit codes:
0 success, 1 a run failed, 2 usage error or invalid config.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path

from autoflow_watch import __version__
from autoflow_watch.config import Config, ConfigError, load_config
from autoflow_watch.logs import configure, error_line

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2
IMPORT_HELP = (
    "Write a config equivalent to FlowKit AutoFlow's workflows.yml. Exits 2 (after writing the rest) when "
    "something could not be carried over; each such thing is named on stderr."
)


class _Parser(argparse.ArgumentParser):
    """argparse that prints usage and one error line, and exits 2 (DESIGN.md's usage-error code)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        error_line(f"autoflow-watch: error: {message}")
        sys.exit(EXIT_USAGE)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="autoflow-watch", description="Data-triggered notebook report pipelines.")
    parser.add_argument("--version", action="version", version=f"autoflow-watch {__version__}")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", required=True, type=Path, help="the TOML config file")
        return sub

    run = command("run", "run the daemon (with --once: do what is due now, then exit)")
    run.add_argument("--once", action="store_true", help="scan, poll, run everything due now, then exit")
    command("validate", "check a config file and its notebooks; exit 0 or 2")
    command(
        "sandbox-check", "start one sealed kernel, try forbidden and allowed actions, print what it saw; exit 0 or 2"
    )
    status = command("status", "show runs, their notebooks, attempts and errors")
    status.add_argument("--workflow", help="only this workflow")
    status.add_argument("--json", action="store_true", help="print a JSON array, one object per run")
    rerun = command("rerun", "force a new run of the given dates (succeeded, failed or dead)")
    rerun.add_argument("workflow")
    rerun.add_argument("dates", nargs="+", type=_date, metavar="DATE")
    fresh = "execute every notebook again (no reuse of an earlier attempt's unchanged notebooks)"
    rerun.add_argument("--fresh", action="store_true", help=fresh)
    backfill = command("backfill", "queue every eligible date in a range (earliest_date not applied)")
    backfill.add_argument("workflow")
    backfill.add_argument("--from", dest="start", required=True, type=_date, metavar="DATE")
    backfill.add_argument("--to", dest="end", required=True, type=_date, metavar="DATE")
    backfill.add_argument("--fresh", action="store_true", help=fresh)
    flowdb_sql = "print the optional NOTIFY trigger for FlowDB's etl.etl_records, as SQL (sql/flowdb-notify.sql)"
    commands.add_parser("flowdb-sql", help=flowdb_sql, description=flowdb_sql)
    imports = commands.add_parser(
        "import-autoflow", help="write a config equivalent to FlowKit AutoFlow's workflows.yml", description=IMPORT_HELP
    )
    imports.add_argument("workflows_yml", type=Path, metavar="WORKFLOWS_YML", help="AutoFlow's workflows.yml")
    imports.add_argument("--notebooks", type=Path, metavar="DIR", help="the notebooks' folder (default: the YAML's)")
    imports.add_argument("-o", "--output", type=Path, metavar="FILE", help="the TOML file to write (default: stdout)")
    db = commands.add_parser("db", help="the state store's schema", description="the state store's schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    upgrade = db_commands.add_parser("upgrade", help="migrate the state store to this version's schema")
    upgrade.add_argument("--config", required=True, type=Path, help="the TOML config file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure(args.log_level)
    if args.command == "flowdb-sql":  # needs no config
        from autoflow_watch.sources.flowdb.rows import notify_sql

        sys.stdout.write(notify_sql())
        return EXIT_OK
    if args.command == "import-autoflow":
        from autoflow_watch.autoflow_import import import_autoflow

        return import_autoflow(args.workflows_yml, args.notebooks, args.output)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        for line in error.problems:
            error_line(f"config error: {line}")
        return EXIT_USAGE
    try:
        return _dispatch(args, config)
    except _UsageError as error:
        error_line(f"autoflow-watch: error: {error}")
        return EXIT_USAGE


class _UsageError(Exception):
    """A command's arguments cannot be acted on (exit 2, one line)."""

    pass


def _dispatch(args: argparse.Namespace, config: Config) -> int:
    from autoflow_watch.daemon.lock import AlreadyRunning
    from autoflow_watch.store import StoreError

    try:
        if args.command == "validate":
            problems = _live_problems(config)
            for line in problems:
                error_line(f"config error: {line}")
            return EXIT_USAGE if problems else _validate_sandbox(config)
        if args.command == "sandbox-check":
            from autoflow_watch.daemon.sandbox_check import sandbox_check

            return sandbox_check(config)
        if args.command == "run":
            from autoflow_watch.daemon import sandbox_gate
            from autoflow_watch.daemon.loop import Daemon
            from autoflow_watch.processes import restrict_umask

            restrict_umask()  # outside systemd too (the unit sets UMask=0027)
            from autoflow_watch.daemon.preload_check import preload_error

            refused = sandbox_gate.refusal(config) or preload_error(config, deep=False)
            if refused:
                error_line(f"autoflow-watch: error: {refused}")
                return EXIT_USAGE

            return Daemon(config, once=args.once, json_logs=not sys.stderr.isatty()).run()
        from autoflow_watch.cli_commands import backfill, db_upgrade, rerun, status

        if args.command == "db":
            return db_upgrade(config)

        if args.workflow is not None and args.workflow not in config.workflows:
            raise _UsageError(
                f"unknown workflow {args.workflow!r}; the config has: {', '.join(sorted(config.workflows))}"
            )
        if args.command == "status":
            return status(config, args.workflow, as_json=args.json)
        if args.command == "rerun":
            return rerun(config, args.workflow, args.dates, fresh=args.fresh)
        if args.command == "backfill":
            if args.end < args.start:
                raise _UsageError("--to must not be before --from")
            return backfill(config, args.workflow, args.start, args.end, fresh=args.fresh)
    except (StoreError, AlreadyRunning) as error:
        error_line(f"autoflow-watch: error: {error}")
        return EXIT_USAGE
    raise _UsageError(f"unknown command {args.command!r}")


def _live_problems(config: Config) -> list[str]:
    """What the chosen backend's registry entry checks beyond the file (Dask: the cluster answers, with the kernels)."""
    from autoflow_watch.extensions import EXECUTORS, hook

    check = hook(EXECUTORS[config.app.execution.backend].live_check)
    problems: list[str] = check(config) if check else []
    return problems


def _validate_sandbox(config: Config) -> int:
    """validate's last word: the config is fine, and what the sandbox enforces here (or why it may not start)."""
    from autoflow_watch.config.sandbox_paths import sandbox_warnings
    from autoflow_watch.daemon import sandbox_gate

    for line in sandbox_warnings(config.source, config.app):
        error_line(f"config warning: {line}")
    from autoflow_watch.daemon.preload_check import preload_error

    refused = sandbox_gate.refusal(config) or preload_error(config)
    if refused:
        error_line(f"autoflow-watch: error: {refused}")
        return EXIT_USAGE
    sys.stdout.write(
        f"{config.source}: OK, {len(config.workflows)} workflow(s): {', '.join(sorted(config.workflows))}\n"
    )
    sys.stdout.write(sandbox_gate.enforcement_line(config) + "\n")
    return EXIT_OK


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
