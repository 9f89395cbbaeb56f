"""AutoFlow-style inputs for tests: notebooks written the way AutoFlow's users write them, and workflows.yml files.

The notebooks follow AutoFlow's conventions (parameters cell with defaults, ``flowapi_url`` as a
parameter, the token read with ``get_secret_or_env_var``, results shared with scrapbook, the
upstream notebook's path as a parameter), against today's ``flowclient`` API. The report's
table cell uses ``Styler.hide_index`` (removed in pandas 2) unless ``fixed=True``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from notebooks import write_notebook

RUN_FLOWS_PARAMETERS = """\
# Default parameter values
flowapi_url = "http://localhost:9090"
aggregation_unit = "admin2"
date_ranges = [["2016-01-01", "2016-01-03"], ["2016-01-03", "2016-01-04"], ["2016-01-04", "2016-01-05"]]
"""

RUN_FLOWS = (
    """\
import scrapbook as sb
from get_secret_or_env_var import environ
from flowclient import connect, get_result_by_query_id, modal_location_from_dates_spec, run_query
from flowclient.aggregates import flows_spec
conn = connect(url=flowapi_url, token=environ["FLOWAPI_TOKEN"])
""",
    """\
periods = dict(benchmark=date_ranges[0], comparison=date_ranges[1], focal=date_ranges[2])
locations = {
    key: modal_location_from_dates_spec(
        start_date=period[0], end_date=period[1], method="last", aggregation_unit=aggregation_unit
    )
    for key, period in periods.items()
}
normal = flows_spec(from_location=locations["benchmark"], to_location=locations["comparison"])
abnormal = flows_spec(from_location=locations["benchmark"], to_location=locations["focal"])
query_ids = {
    "flownormal": run_query(connection=conn, query_spec=normal),
    "flowabnormal": run_query(connection=conn, query_spec=abnormal),
}
for query_id in query_ids.values():
    get_result_by_query_id(connection=conn, query_id=query_id, disable_progress=True)
""",
    """\
sb.glue("query_ids", query_ids)
sb.glue("date_periods", periods)
""",
)

FLOWS_REPORT_PARAMETERS = """\
# Default parameter values
flowapi_url = "http://localhost:9090"
aggregation_unit = "admin2"
reference_date = "2016-01-04"
previous_notebook = "run_flows.ipynb"
"""


def flows_report_cells(*, fixed: bool) -> tuple[str, ...]:
    hide = 'style.hide(axis="index")' if fixed else "style.hide_index()"
    return (
        """\
import pandas as pd
import scrapbook as sb
from IPython.display import Markdown, display
from get_secret_or_env_var import environ
from flowclient import connect, get_geography, get_result_by_query_id
conn = connect(url=flowapi_url, token=environ["FLOWAPI_TOKEN"])
""",
        """\
nb = sb.read_notebook(previous_notebook)
query_ids = nb.scraps["query_ids"].data
date_periods = nb.scraps["date_periods"].data
results = {k: get_result_by_query_id(connection=conn, query_id=v, disable_progress=True) for k, v in query_ids.items()}
geography = get_geography(connection=conn, aggregation_unit=aggregation_unit)
regions = pd.DataFrame([feature["properties"] for feature in geography["features"]])
""",
        """\
periods = "\\n".join(f"- **{key}**: [{dates[0]}, {dates[1]})" for key, dates in date_periods.items())
display(Markdown(f"# Above-normal {aggregation_unit} flows: {reference_date}\\n\\n{periods}"))
""",
        """\
index = ["pcod_from", "pcod_to"]
above = (results["flowabnormal"].set_index(index) - results["flownormal"].set_index(index)).dropna().reset_index()
moves = above[above.pcod_from != above.pcod_to]
inflow = moves.groupby("pcod_to")["value"].sum().reset_index().merge(regions, left_on="pcod_to", right_on="pcod")
""",
        f"""\
inflow[["pcod", "name", "value"]].{hide}
""",
    )


def write_flows_notebooks(folder: Path, *, fixed: bool = False) -> Path:
    """``run_flows.ipynb`` and ``flows_report.ipynb`` in ``folder`` (the report broken for pandas 2 unless fixed)."""
    write_notebook(folder / "run_flows.ipynb", RUN_FLOWS_PARAMETERS, *RUN_FLOWS, title="# Run flows")
    write_report(folder, fixed=fixed)
    return folder


def write_report(folder: Path, *, fixed: bool) -> Path:
    return write_notebook(
        folder / "flows_report.ipynb",
        FLOWS_REPORT_PARAMETERS,
        *flows_report_cells(fixed=fixed),
        title="# Flows above normal",
    )


# AutoFlow's own example shape: one workflow, run_flows -> flows_report (PDF), listed twice by the sensor.
FLOWS_YML = """\
workflows:
  - name: flows_above_normal
    notebooks:
      run_flows:
        filename: run_flows.ipynb
        parameters:
          flowapi_url: flowapi_url
          aggregation_unit: aggregation_unit
          date_ranges: date_ranges
      flows_report:
        filename: flows_report.ipynb
        parameters:
          flowapi_url: flowapi_url
          aggregation_unit: aggregation_unit
          reference_date: reference_date
          previous_notebook: run_flows
        output:
          format: pdf

available_dates_sensor:
  schedule: "0 0 * * *"
  cdr_types:
    - calls
    - sms
  workflows:
    - workflow_name: flows_above_normal
      parameters:
        aggregation_unit: admin2
      earliest_date: 2016-01-04
      date_stencil: [[2016-01-01, 2016-01-02], -1, 0]
    - workflow_name: flows_above_normal
      parameters:
        aggregation_unit: admin3
      earliest_date: 2016-01-06
      date_stencil: [[2016-01-01, 2016-01-02], -1, 0]
"""

# Several workflows, and what cannot carry over: an asciidoc template, an unknown key, a notebook
# without its filename, a sensor entry missing a parameter its notebooks need, an unlisted workflow.
MESSY_YML = """\
workflows:
  - name: flows_above_normal
    notebooks:
      run_flows:
        filename: run_flows.ipynb
        parameters: {flowapi_url: flowapi_url, aggregation_unit: aggregation_unit, date_ranges: date_ranges}
      flows_report:
        filename: flows_report.ipynb
        parameters:
          flowapi_url: flowapi_url
          aggregation_unit: aggregation_unit
          reference_date: reference_date
          previous_notebook: run_flows
        output: {format: pdf, template: custom_asciidoc.tpl}
  - name: broken
    notebooks:
      lonely:
        parameters: {reference_date: reference_date}
  - name: never_listed
    notebooks:
      run_flows: {filename: run_flows.ipynb, parameters: {flowapi_url: flowapi_url}}

available_dates_sensor:
  schedule: "30 6 * * 1-5"
  retries: 3
  workflows:
    - workflow_name: flows_above_normal
      parameters: {aggregation_unit: admin2}
      date_stencil: [[2016-01-01, 2016-01-03], -1, 0]
    - workflow_name: flows_above_normal
      parameters: {aggregation_unit: admin1}
      earliest_date: 2016-02-01
      date_stencil: [[2016-01-01, 2016-01-03], [-7, -1], 0]
    - workflow_name: flows_above_normal
      date_stencil: [[2016-01-01, 2016-01-03], -1, 0]
    - workflow_name: broken
"""
