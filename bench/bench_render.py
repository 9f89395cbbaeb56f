"""Render time per report: ours (HTML, PDF) against nbconvert's HTML, webpdf and LaTeX exporters.

Run by hand: ``.venv/bin/python bench/bench_render.py [--repeat 5]``. Executes the example
report (after its upstream notebook) and the harder render fixtures once with papermill, then
times, in this one process and on the same executed notebooks:

- ``ours html``: :func:`autoflow_watch.render.render_report` with ``["html"]``;
- ``ours pdf``: the same with ``["pdf"]`` (the HTML page is made on the way, as in a run);
- ``nbconvert html``: ``HTMLExporter(template_name="lab")``, nbconvert's default page;
- ``webpdf``: ``WebPDFExporter`` (playwright). Playwright cannot download its browser here, so
  it is pointed at Debian's ``/usr/bin/chromium`` (``executable_path``); needs
  ``pip install playwright``, else reported as not measurable;
- ``latex``: ``PDFExporter`` (xelatex; Debian packages texlive-xetex, texlive-fonts-recommended,
  texlive-plain-generic, pandoc), else reported as not measurable.

Each cell is the median of ``--repeat`` runs after one warm-up run in this process (imports,
Jinja environments, cached formulas are paid once). ``--cold`` instead runs every render in a
fresh Python process and times its imports and the render, which is what a run pays: the
daemon renders in each run's own worker process. Ratios are theirs / ours.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ENGINES = ("ours html", "ours pdf", "nbconvert html", "webpdf", "latex")


def executed_notebooks(folder: Path) -> dict[str, Path]:
    """The benchmark's inputs, executed once (kernels are not what is measured here)."""
    sys.path.insert(0, str(REPO / "tests" / "render"))
    from render_checks import EXAMPLE_PARAMETERS, EXAMPLES, FIXTURES, TOKEN, execute

    aggregate = execute(EXAMPLES / "aggregate.ipynb", folder / "aggregate.ipynb", cwd=EXAMPLES, **EXAMPLE_PARAMETERS)
    report = execute(
        EXAMPLES / "report.ipynb", folder / "report.ipynb", cwd=EXAMPLES, aggregate=str(aggregate), **EXAMPLE_PARAMETERS
    )
    wide = execute(FIXTURES / "wide_tall_formula.ipynb", folder / "wide.ipynb", cwd=FIXTURES, api_token=TOKEN)
    failed = execute(
        FIXTURES / "failed_long_traceback.ipynb", folder / "failed.ipynb", cwd=FIXTURES, expect_failure=True
    )
    return {"example report": report, "wide table + tall figure": wide, "long traceback": failed}


@contextlib.contextmanager
def debian_chromium_for_playwright() -> Iterator[None]:
    """Make playwright's ``chromium.launch`` use Debian's chromium (nbconvert passes no path)."""
    from playwright.async_api import BrowserType

    original = BrowserType.launch

    async def launch(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("executable_path", CHROMIUM)
        return await original(self, *args, **kwargs)

    BrowserType.launch = launch  # type: ignore[method-assign]
    try:
        yield
    finally:
        BrowserType.launch = original  # type: ignore[method-assign]


def availability() -> dict[str, str]:
    """Why an engine cannot be measured on this machine ('' when it can)."""
    import importlib.util

    reasons = dict.fromkeys(ENGINES, "")
    if importlib.util.find_spec("playwright") is None:
        reasons["webpdf"] = "playwright is not installed (pip install playwright)"
    elif not Path(CHROMIUM).exists():
        reasons["webpdf"] = f"{CHROMIUM} is absent (apt-get install chromium)"
    missing = [tool for tool in ("xelatex", "pandoc") if shutil.which(tool) is None]
    if missing:
        reasons["latex"] = f"{' and '.join(missing)} not installed (texlive-xetex, pandoc)"
    return reasons


def _nbconvert(exporter_name: str, suffix: str, out: Path, **options: Any) -> Callable[[str, Path], Any]:
    """An nbconvert exporter as a render callable (imported and built only when asked for)."""
    import nbconvert
    import nbformat

    exporter = getattr(nbconvert, exporter_name)(**options)

    def run(label: str, notebook: Path) -> None:
        body, _ = exporter.from_notebook_node(nbformat.read(str(notebook), as_version=4))
        (out / f"{notebook.stem}-{suffix}").write_bytes(body if isinstance(body, bytes) else body.encode())

    return run


def _ours(formats: list[str], out: Path) -> Callable[[str, Path], Any]:
    """Our render, as a run does it (the long-traceback notebook as a failed run's page, code shown)."""
    from autoflow_watch.render.context import ReportContext
    from autoflow_watch.render.report import render_report

    def run(label: str, notebook: Path) -> None:
        failed = label == "long traceback"
        now = time.time()
        status = "failed" if failed else "succeeded"
        context = ReportContext("bench", "2026-11-24", "run-bench", now - 83, now, status)
        render_report(notebook, out, notebook.stem, formats, context, show_code=failed)

    return run


FACTORIES: dict[str, Callable[[Path], Callable[[str, Path], Any]]] = {
    "ours html": lambda out: _ours(["html"], out),
    "ours pdf": lambda out: _ours(["pdf"], out),
    "nbconvert html": lambda out: _nbconvert("HTMLExporter", "lab.html", out, template_name="lab"),
    "webpdf": lambda out: _nbconvert("WebPDFExporter", "webpdf.pdf", out, disable_sandbox=True),
    "latex": lambda out: _nbconvert("PDFExporter", "latex.pdf", out),
}


def measure(run: Callable[[str, Path], Any], label: str, notebook: Path, repeat: int) -> list[float] | str:
    """Seconds of ``repeat`` runs after a warm-up, or the one-line reason the engine failed."""
    try:
        run(label, notebook)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            run(label, notebook)
            times.append(time.perf_counter() - started)
    except Exception as error:  # a benchmark reports an engine's failure instead of stopping
        text = str(error)
        tex_error = next((line for line in text.splitlines() if line.startswith("! ")), "")  # LaTeX's own
        last = tex_error or traceback.format_exception_only(type(error), error)[-1].strip()
        return f"failed ({type(error).__name__}): {last[:160]}"
    return times


def measure_cold(engine: str, label: str, notebook: Path, out: Path, repeat: int) -> list[float] | str:
    """Seconds of ``repeat`` renders, each in a fresh process (its imports included, not Python's start)."""
    import subprocess

    times = []
    for _ in range(repeat):
        child = [sys.executable, __file__, "--child", engine, label, str(notebook), str(out)]
        done = subprocess.run(child, capture_output=True, text=True, check=False)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            return f"failed: {(done.stderr.strip().splitlines() or ['no output'])[-1][:160]}"
        if not lines[-1].replace(".", "", 1).isdigit():
            return lines[-1]
        times.append(float(lines[-1]))
    return times


def child(engine: str, label: str, notebook: Path, out: Path) -> None:
    """``--child``: import, render once, print the seconds (or the failure) on the last line."""
    started = time.perf_counter()
    with debian_chromium_for_playwright() if engine == "webpdf" else contextlib.nullcontext():
        run = FACTORIES[engine](out)
        try:
            run(label, notebook)
        except Exception as error:
            print(f"failed ({type(error).__name__}): {str(error).splitlines()[0][:160]}")
            return
    print(f"{time.perf_counter() - started:.4f}")


def report(results: dict[str, dict[str, list[float] | str]], reasons: dict[str, str]) -> None:
    """Medians per report and engine, then the ratios theirs / ours."""
    print(f"\n{'report':<26}" + "".join(f"{engine:>16}" for engine in ENGINES))
    for label, row in results.items():
        cells = []
        for engine in ENGINES:
            value = row.get(engine)
            cells.append(f"{statistics.median(value):>15.3f}s" if isinstance(value, list) else f"{'n/a':>16}")
        print(f"{label:<26}" + "".join(cells))
    print("\nratios (theirs / ours, medians):")
    for label, row in results.items():
        parts = []
        for theirs, ours in (("nbconvert html", "ours html"), ("webpdf", "ours pdf"), ("latex", "ours pdf")):
            a, b = row.get(theirs), row.get(ours)
            if isinstance(a, list) and isinstance(b, list):
                parts.append(f"{theirs} / {ours} = {statistics.median(a) / statistics.median(b):.2f}")
        print(f"  {label:<26} " + ";  ".join(parts))
    notes = {e: r for e, r in reasons.items() if r}
    notes |= {f"{e} on {label}": v for label, row in results.items() for e, v in row.items() if isinstance(v, str)}
    for engine, reason in notes.items():
        print(f"not measured: {engine}: {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the rendered files in this folder (to look at them)")
    parser.add_argument("--cold", action="store_true", help="each render in a fresh process, imports included")
    parser.add_argument("--child", nargs=4, metavar=("ENGINE", "LABEL", "NOTEBOOK", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine, label, notebook, out = args.child
        child(engine, label, Path(notebook), Path(out))
        return
    reasons = availability()
    with tempfile.TemporaryDirectory(prefix="bench-render-") as folder:
        work = Path(folder)
        notebooks = executed_notebooks(work)
        out = args.keep or work / "out"
        out.mkdir(parents=True, exist_ok=True)
        engines = {} if args.cold else {name: FACTORIES[name](out) for name in ENGINES if not reasons[name]}
        results: dict[str, dict[str, list[float] | str]] = {}
        patched = not reasons["webpdf"] and not args.cold
        with debian_chromium_for_playwright() if patched else contextlib.nullcontext():
            for label, notebook in notebooks.items():
                results[label] = {}
                for engine in ENGINES:
                    if reasons[engine]:
                        continue
                    if args.cold:
                        results[label][engine] = measure_cold(engine, label, notebook, out, args.repeat)
                    else:
                        results[label][engine] = measure(engines[engine], label, notebook, args.repeat)
                    value = results[label][engine]
                    shown = f"{statistics.median(value):.3f}s" if isinstance(value, list) else value
                    print(f"{label:<26} {engine:<15} {shown}", flush=True)
    report(results, reasons)


if __name__ == "__main__":
    main()
