"""A sandbox failure's page on a phone (375 px, real chromium): the sandbox's words once, nothing sideways."""

from __future__ import annotations

from pathlib import Path

import pytest
from headless_chromium import headless_chromium

from autoflow_watch.publish.failure_page import FailureFacts, write_failure_page

pytestmark = pytest.mark.chromium
BLOCKED = "/srv/shared/analysts/regional_population_estimates_2026/admin3_boundaries_with_long_names.csv"
HINT = (
    f"the notebook sandbox blocked access to {BLOCKED}: add it (or its folder) to read_paths, or to write_paths"
    " to write it, in workflow 'district_mobility_indicators_daily' (docs/sandbox.md)"
)
ERROR = f"[Errno 13] Permission denied: '{BLOCKED}' ({HINT})"


def sandbox_failure(folder: Path) -> Path:
    """The page as the daemon files a notebook the sandbox stopped: error.txt holds the hint in the error
    line and again at the top of the traceback, as ``daemon/completion.py`` writes it."""
    notebook = "district_mobility_indicators_with_a_long_notebook_name"
    traceback = (
        f"{HINT}\n\nTraceback (most recent call last):\nPermissionError: [Errno 13] Permission denied: '{BLOCKED}'"
    )
    error_text = (
        f"workflow: district_mobility_indicators_daily\nreference_date: 2026-11-24\nrun_id: run-1\nattempt: 1\n"
        f"notebook: {notebook}\ncell: 3\nerror: PermissionError: {ERROR}\n\n{traceback}\n"
    )
    facts = FailureFacts(
        "district_mobility_indicators_daily",
        "2026-11-24",
        "district_mobility_indicators_daily-2026-11-24-a1-0123abcd",
        1,
        "PermissionError",
        ERROR,
        notebook,
        3,
        traceback,
        {"boundaries": BLOCKED},
        60.0,
        3600.0,
        files=[f"{notebook}.html", f"{notebook}.ipynb", "error.txt"],
        error_text=error_text,
    )
    return write_failure_page(folder, facts)


def test_the_sandbox_line_is_said_once_and_the_page_fits_a_phone(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    page = sandbox_failure(tmp_path)
    with headless_chromium(tmp_path / "profile") as browser:
        browser.driver.set_window_size(375, 900)
        browser.open(page.as_uri())
        what = browser.driver.find_element(By.CSS_SELECTOR, ".what").text
        assert what.count("the notebook sandbox blocked access") == 1, what
        overflow = browser.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the failure page is {overflow} px wider than a 375 px phone"
