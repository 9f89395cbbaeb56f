"""The example workflow: its data generator and its notebooks, run for real with papermill.

Expected numbers come straight from ``cdr_sample.csv`` through the csv module, independently
of the notebooks' pandas code.
"""

from __future__ import annotations

import base64
import csv
import importlib.util
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
import scrapbook as sb

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = EXAMPLES / "notebooks"
DATA = EXAMPLES / "data" / "cdr_sample.csv"

REFERENCE_DATE = "2026-11-24"
DATE_RANGES = [["2026-11-18", "2026-11-25"]]
PARAMETERS = {
    "reference_date": REFERENCE_DATE,
    "date_ranges": DATE_RANGES,
    "workflow_name": "daily-report",
    "region": "admin2",
}


def _execute(name: str, output: Path, **parameters: Any) -> nbformat.NotebookNode:
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        execution_timeout=120,
    )
    return nbformat.read(str(output), as_version=4)


def _window_rows(start: str = "2026-11-18", end: str = "2026-11-25") -> list[dict[str, str]]:
    with DATA.open(newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if start <= row["date"] < end]


def _output_text(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            parts += [data.get(mime, "") for mime in ("text/markdown", "text/html", "text/plain")]
            parts.append(output.get("text", ""))
    return "\n".join(str(part) for part in parts)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("example-run")
    aggregate = folder / "aggregate.ipynb"
    report = folder / "report.ipynb"
    _execute("aggregate", aggregate, run_id="test-run", **PARAMETERS)
    _execute("report", report, aggregate=str(aggregate), **PARAMETERS)
    return {"aggregate": aggregate, "report": report}


# ------------------------------------------------------------------ the data generator


def test_generator_reproduces_the_committed_csv_byte_for_byte(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_cdr_sample", DATA.with_name("make_cdr_sample.py"))
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)

    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    generator.write_csv(first)
    generator.write_csv(second)

    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() == DATA.read_bytes(), "re-run examples/data/make_cdr_sample.py and commit"
    assert DATA.stat().st_size < 1_000_000


def test_sample_covers_the_quarter_with_one_planted_gap() -> None:
    rows = _window_rows("2026-10-01", "2027-01-01")
    per_day = Counter(row["date"] for row in rows)
    assert len(per_day) == 92
    assert min(per_day) == "2026-10-01" and max(per_day) == "2026-12-31"
    assert {day: count for day, count in per_day.items() if count != 15} == {"2026-11-20": 14}


# ------------------------------------------------------------------ the notebooks' contract


@pytest.mark.parametrize(
    ("name", "declared"),
    [
        ("aggregate", {"reference_date", "date_ranges", "workflow_name", "run_id", "region"}),
        ("report", {"reference_date", "date_ranges", "workflow_name", "aggregate", "region"}),
    ],
)
def test_parameters_cells_declare_what_the_daemon_passes(name: str, declared: set[str]) -> None:
    assert set(papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))) == declared


def test_report_title_is_the_first_cells_heading() -> None:
    notebook = nbformat.read(str(NOTEBOOKS / "report.ipynb"), as_version=4)
    assert notebook.cells[0].cell_type == "markdown"
    assert notebook.cells[0].source.startswith("# Daily mobility report")


# ------------------------------------------------------------------ executed for real


@pytest.mark.e2e
def test_aggregate_glues_the_window_counts(executed: dict[str, Path]) -> None:
    rows = _window_rows()
    scraps = sb.read_notebook(str(executed["aggregate"])).scraps

    daily = scraps["daily_counts"].data
    assert len(daily) == len(rows) == 15 * 7 - 1
    assert {record["date"] for record in daily} == {f"2026-11-{day}" for day in range(18, 25)}
    assert sum(record["calls"] for record in daily) == sum(int(row["calls"]) for row in rows)
    assert scraps["total_calls"].data == sum(int(row["calls"]) for row in rows)
    assert scraps["total_call_minutes"].data == sum(int(row["call_minutes"]) for row in rows)
    assert scraps["reference_date_calls"].data == sum(
        int(row["calls"]) for row in rows if row["date"] == REFERENCE_DATE
    )
    assert scraps["days"].data == [f"2026-11-{day}" for day in range(18, 25)]
    assert scraps["missing_records"].data == [{"date": "2026-11-20", "admin2_code": "XZ0403", "admin2_name": "Lunet"}]
    flagged = {(item["date"], item["region_name"]) for item in scraps["anomalies"].data}
    assert flagged == {
        ("2026-11-21", "Tobrek"),
        ("2026-11-23", "Port Selwyn"),
        ("2026-11-24", "Port Selwyn"),
    }


@pytest.mark.e2e
def test_report_states_the_real_numbers_and_has_a_chart(executed: dict[str, Path]) -> None:
    rows = _window_rows()
    reference_calls = sum(int(row["calls"]) for row in rows if row["date"] == REFERENCE_DATE)
    previous_calls = sum(int(row["calls"]) for row in rows if row["date"] == "2026-11-23")
    window_calls = sum(int(row["calls"]) for row in rows)
    per_region: Counter[str] = Counter()
    for row in rows:
        per_region[row["admin2_name"]] += int(row["calls"])
    (top_region, top_calls), (second_region, second_calls) = per_region.most_common(2)

    notebook = nbformat.read(str(executed["report"]), as_version=4)
    text = _output_text(notebook)

    assert not [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert f"**{reference_calls:,} calls**" in text
    assert f"{previous_calls:,} calls" in text
    assert f"{100 * (reference_calls / previous_calls - 1):+.1f} %" in text
    assert f"{window_calls:,} calls were made in 15 districts" in text
    # the per-region table, sorted by calls over the window
    assert f"{top_calls:,}" in text and f"{second_calls:,}" in text
    assert text.index(f"{top_calls:,}") < text.index(f"{second_calls:,}")
    assert top_region == "Almora City" and second_region == "Port Selwyn"
    # the anomaly note and the data gap
    tobrek = next(r for r in rows if r["date"] == "2026-11-21" and r["admin2_name"] == "Tobrek")
    assert f"**Tobrek**, Saturday 21 November: {int(tobrek['calls']):,} calls" in text
    assert "No records arrived for Lunet (XZ0403) on Friday 20 November" in text

    images = [
        output["data"]["image/png"]
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 1
    assert base64.b64decode(images[0]).startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.e2e
def test_aggregate_honours_the_region_level(tmp_path: Path) -> None:
    _execute("aggregate", tmp_path / "admin1.ipynb", **{**PARAMETERS, "region": "admin1"})
    scraps = sb.read_notebook(str(tmp_path / "admin1.ipynb")).scraps
    assert {record["region_name"] for record in scraps["daily_counts"].data} == {
        "Central",
        "Coastal",
        "Northern",
        "Highlands",
    }
    assert scraps["total_calls"].data == sum(int(row["calls"]) for row in _window_rows())


@pytest.mark.e2e
def test_aggregate_fails_loudly_for_dates_without_data(tmp_path: Path) -> None:
    parameters = {
        **PARAMETERS,
        "reference_date": "2027-01-05",
        "date_ranges": [["2026-12-30", "2027-01-06"]],
    }
    with pytest.raises(papermill.PapermillExecutionError, match="no rows for 2027-01-01"):
        _execute("aggregate", tmp_path / "late.ipynb", **parameters)
