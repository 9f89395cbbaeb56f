"""Read the YAML, translate it, write the TOML, prove that it validates, and say what was left behind."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path

from autoflow_watch.autoflow_import.reader import Findings, ImportFailed, read_workflows_yml
from autoflow_watch.autoflow_import.toml_text import Settings, render
from autoflow_watch.autoflow_import.translate import translate
from autoflow_watch.config import ConfigError, load_config
from autoflow_watch.logs import error_line

EXIT_OK, EXIT_INCOMPLETE = 0, 2


def import_autoflow(workflows_yml: Path, notebooks: Path | None, output: Path | None) -> int:
    """Write the config (to ``output``, or stdout); 0 when everything carried over and it validates, else 2."""
    source = workflows_yml.absolute()
    findings = Findings(source)
    try:
        spec = read_workflows_yml(source, findings)
    except ImportFailed as error:
        error_line(f"import-autoflow: {error}")
        return EXIT_INCOMPLETE
    tables = translate(spec, findings)
    out_dir = (output.absolute().parent if output is not None else Path.cwd()).resolve()
    notebooks_dir = (notebooks if notebooks is not None else source.parent).absolute().resolve()
    settings = Settings(source=source, notebooks=os.path.relpath(notebooks_dir, out_dir), schedule=spec.schedule)
    text = render(settings, tables)
    problems = _write_and_validate(text, output, out_dir)
    for line in findings.notes:
        sys.stderr.write(f"note: {line}\n")
    for line in findings.lost:
        error_line(f"not carried over: {line}")
    for line in problems:
        error_line(f"does not validate yet: {line}")
    where = str(output) if output is not None else "stdout"
    sys.stderr.write(
        f"import-autoflow: wrote {where}: {len(tables)} workflow(s) ({', '.join(t.name for t in tables) or 'none'}); "
        f"{len(findings.lost)} item(s) not carried over; {'validates' if not problems else 'does NOT validate'}\n"
    )
    return EXIT_INCOMPLETE if findings.lost or problems else EXIT_OK


def _write_and_validate(text: str, output: Path | None, out_dir: Path) -> list[str]:
    """Write ``text`` where asked (atomically) and return ``validate``'s problems with it, if any."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=out_dir, prefix=".import-autoflow-", suffix=".toml")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        try:
            load_config(temp)
            problems: list[str] = []
        except ConfigError as error:
            problems = [line.replace(str(temp), str(output or "<stdout>")) for line in error.problems]
        if output is not None:
            os.replace(temp, output)
        else:
            sys.stdout.write(text)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return problems
