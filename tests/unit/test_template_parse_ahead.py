"""A forked kernel's command line, parsed ahead in its template, configures the kernel as parsing it there would.

The template (``autoflow_watch/sandbox/template.py``) parses each shape of ipykernel command line
once and hands every fork a copy with its own connection file: the kernel app must end up with
exactly the configuration traitlets would have parsed from that kernel's own command line.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from ipykernel.kernelapp import IPKernelApp

from autoflow_watch.executor.kernel_manager import IN_MEMORY_HISTORY

TEMPLATE = Path(__file__).resolve().parents[2] / "autoflow_watch" / "sandbox" / "template.py"


@pytest.fixture
def template():
    """The template script's functions, with its parse-ahead installed on IPKernelApp (removed after)."""
    functions = runpy.run_path(str(TEMPLATE), run_name="_afw_template_under_test")
    real = IPKernelApp.parse_command_line
    functions["_install_parse_ahead"]()
    yield functions
    IPKernelApp.parse_command_line = real  # type: ignore[method-assign]


def parsed(argv: list[str]) -> tuple[dict, list[str]]:
    app = IPKernelApp()
    app.parse_command_line(argv)
    return app.cli_config, app.extra_args


def real_parse(argv: list[str]) -> tuple[dict, list[str]]:
    app = IPKernelApp()
    IPKernelApp.parse_command_line.__globals__["_REAL_PARSE"][0](app, argv)
    return app.cli_config, app.extra_args


def test_each_kernel_gets_its_own_connection_file_and_the_same_configuration(template):
    command = ["python", "-m", "ipykernel_launcher", "-f", "/run/a/kernel.json", IN_MEMORY_HISTORY]
    template["_parse_ahead"](command)
    assert [value is not None for value in template["_PARSED"].values()] == [True], "this shape was parsed ahead"
    for connection_file in ("/run/b/kernel.json", "/run/c/kernel-2.json"):
        argv = ["-f", connection_file, IN_MEMORY_HISTORY]
        config, extra = parsed(argv)
        assert config.IPKernelApp.connection_file == connection_file
        assert config.HistoryManager.hist_file == ":memory:"
        assert (config, extra) == real_parse(argv)


def test_another_shape_is_parsed_in_the_kernel_as_when_spawned(template):
    template["_parse_ahead"](["python", "-m", "ipykernel_launcher", "-f", "/run/a/kernel.json"])
    argv = ["-f", "/run/b/kernel.json", "--IPKernelApp.matplotlib=inline"]
    assert parsed(argv) == real_parse(argv)
    assert parsed(argv)[0].IPKernelApp.matplotlib == "inline"
