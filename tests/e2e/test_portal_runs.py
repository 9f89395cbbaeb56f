"""The portal after real runs: failure pages that say what happened, figures from glued scraps.

Each failure is caused for real in a real kernel: a cell that raises, a kernel that dies
allocating past a small ``RLIMIT_AS`` (through a native allocation that does not check, as a C
library would: Python's own allocations raise MemoryError instead, which is the next test), and
a cell past ``cell_timeout``.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from daemon_process import cli
from faulty_project import drop_marker, single_notebook_project

pytestmark = pytest.mark.e2e

# the kernel's address space is capped just above what it uses, then 1 GiB is asked for
LIMIT_AS = (
    "import resource\n"
    "used = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
    "resource.setrlimit(resource.RLIMIT_AS, (used + 64 * 2**20, resource.RLIM_INFINITY))\n"
)
NATIVE_OOM = (
    LIMIT_AS + "import ctypes\nlibc = ctypes.CDLL(None)\nlibc.malloc.restype = ctypes.c_void_p\n"
    "block = libc.malloc(2**30)  # NULL: the limit refuses it, and like much C code nobody checks\n"
    "ctypes.memset(block, 1, 2**30)"
)
# the cell lets go of what it took before the error propagates: else IPython itself may have no memory
# left to format the MemoryError (then the page can only say "Cell error", as under load it did)
PYTHON_OOM = LIMIT_AS + (
    "keep = []\ntry:\n    while True:\n        keep.append(bytearray(2**20))\n"
    "except MemoryError:\n    keep.clear()\n    raise"
)


def failure_page(config: Path) -> str:
    """The one failure page of the run, as text (tags and entities resolved)."""
    [page] = (config.parent / "var" / "outbox" / "_failed" / "faulty" / "2026-11-24").glob("*/index.html")
    assert {p.name for p in page.parent.iterdir()} >= {"index.html", "error.txt", "job.ipynb"}
    return page.read_text(encoding="utf-8")


def words(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def run_failing(tmp_path: Path, cell: str, **settings: str) -> str:
    config = single_notebook_project(tmp_path, cell, workflow="max_attempts = 1", **settings)
    drop_marker(config)
    assert cli(config, "run", "--once").returncode == 1
    return failure_page(config)


def test_a_cell_error_page_shows_the_cell_its_stderr_the_traceback_and_links(tmp_path: Path) -> None:
    cell = "import sys\nprint('reading calls for', reference_date, file=sys.stderr)\nraise ValueError('no rows')"
    page = run_failing(tmp_path, cell)
    text = words(page)
    assert "A cell raised an error: cell 3 of notebook “job” raised ValueError: no rows" in text
    assert "raise ValueError(&#39;no rows&#39;)" in page or "raise ValueError('no rows')" in text
    assert "reading calls for 2026-11-24" in text, "what the cell wrote to stderr"
    assert "Traceback" in text or "ValueError Traceback" in text or "---> 3" in text
    assert 'href="job.html"' in page and 'href="error.txt"' in page
    assert "reference_date" in text and "2026-11-24" in text, "the parameters"
    assert page.index('http-equiv="Content-Security-Policy"') < page.index("<meta charset"), "CSP first in <head>"


def test_a_kernel_killed_by_memory_says_the_kernel_died_and_why_that_happens(tmp_path: Path) -> None:
    text = words(run_failing(tmp_path, NATIVE_OOM))
    assert "Kernel died" in text
    assert "The kernel died while running cell 3 of notebook “job”" in text
    assert "out of memory" in text
    assert "ctypes.memset(block, 1, 2**30)" in text, "the cell that was running"


def test_a_python_allocation_past_the_limit_says_out_of_memory(tmp_path: Path) -> None:
    text = words(run_failing(tmp_path, PYTHON_OOM))
    assert "The notebook ran out of memory: cell 3 of notebook “job” raised MemoryError" in text


def test_a_cell_past_cell_timeout_says_timeout_and_the_limit(tmp_path: Path) -> None:
    text = words(run_failing(tmp_path, "import time\ntime.sleep(120)", execution='cell_timeout = "2s"'))
    assert "Timeout: cell 3 of notebook “job” ran longer than cell_timeout (2 s) and was stopped" in text
    assert "time.sleep(120)" in text


GLUE = (
    "import scrapbook as sb\n"
    "day = int(reference_date[-2:])\n"
    "sb.glue('calls', 1000 * day)\n"
    "sb.glue('share', day / 100)\n"
    "sb.glue('region', 'admin2')\n"
    "sb.glue('rows', [1, 2, 3])  # not a scalar: not a figure"
)


def test_glued_scalars_become_the_historys_figures_with_their_change(tmp_path: Path) -> None:
    config = single_notebook_project(tmp_path, GLUE)
    for day in ("2026-11-23", "2026-11-24"):
        drop_marker(config, day)
    assert cli(config, "run", "--once").returncode == 0
    outbox = config.parent / "var" / "outbox"
    history = words((outbox / "faulty" / "index.html").read_text(encoding="utf-8"))
    assert "24,000 (+4.3 %)" in history and "23,000" in history
    assert "0.24 (+4.3 %)" in history and "admin2" in history
    assert "rows" not in history.split("Calendar")[0].split("History")[1].lower().split("took")[0]
    data = json.loads((outbox / "index.json").read_text(encoding="utf-8"))
    [workflow] = data["workflows"]
    newest = workflow["dates"][0]
    assert newest["scraps"] == {"job": {"calls": 24000, "share": 0.24, "region": "admin2"}}
    assert [d["reference_date"] for d in workflow["dates"]] == ["2026-11-24", "2026-11-23"]
    feed = (outbox / "faulty" / "feed.xml").read_text(encoding="utf-8")
    assert feed.count("<entry>") == 2 and 'href="2026-11-24/job.html"' in feed
