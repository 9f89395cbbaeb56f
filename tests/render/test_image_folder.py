"""Reports embed images only from the folder the daemon names, never from a path the notebook names.

A returned (Dask) or rewritten (a kernel may write its run folder) notebook can claim in its
papermill metadata that it ran anywhere, and its markdown can name any file: neither may make
the renderer embed, say, a credentials file into a published report.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell, new_notebook
from render_checks import report_context

from autoflow_watch.render.report import render_report

SECRET = "credential-0f9e8d7c"


def _svg(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><!--{text}--></svg>')
    return path


def _embedded(page: str, text: str) -> bool:
    return any(text in base64.b64decode(chunk).decode("utf-8", "replace") for chunk in _data_uris(page))


def _data_uris(page: str) -> list[str]:
    marker = "data:image/svg+xml;base64,"
    return [part.split('"', 1)[0] for part in page.split(marker)[1:]]


def _returned_notebook(run_folder: Path, markdown: str, claimed_input: Path) -> Path:
    nb = new_notebook(cells=[new_markdown_cell(markdown)])
    nb.metadata["papermill"] = {"input_path": str(claimed_input), "output_path": str(claimed_input)}
    path = run_folder / "report.ipynb"
    run_folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def test_the_image_folder_is_never_taken_from_the_notebooks_metadata(tmp_path: Path) -> None:
    secrets = tmp_path / "credentials"
    _svg(secrets / "token.svg", SECRET)
    notebook = _returned_notebook(tmp_path / "run", "![x](token.svg)", secrets / "report.ipynb")
    [html] = render_report(notebook, tmp_path / "out", "report", ["html"], report_context())
    assert not _embedded(html.read_text(encoding="utf-8"), SECRET), "a file of the folder the notebook named"


def test_only_relative_paths_inside_the_image_folder_are_embedded_links_resolved(tmp_path: Path) -> None:
    secrets, notebooks = tmp_path / "credentials", tmp_path / "notebooks"
    _svg(secrets / "token.svg", SECRET)
    _svg(notebooks / "img" / "logo.svg", "the-logo")
    os.symlink(secrets / "token.svg", notebooks / "linked.svg")
    markdown = "\n\n".join(
        [
            "![logo](img/logo.svg)",
            f"![abs]({secrets / 'token.svg'})",
            "![up](../credentials/token.svg)",
            "![link](linked.svg)",
            f'<img src="{secrets / "token.svg"}">',
        ]
    )
    notebook = _returned_notebook(tmp_path / "run", markdown, secrets / "report.ipynb")
    [html] = render_report(notebook, tmp_path / "out", "report", ["html"], report_context(), image_folder=notebooks)
    page = html.read_text(encoding="utf-8")
    assert _embedded(page, "the-logo"), "an image beside the configured notebook is embedded"
    assert not _embedded(page, SECRET), "nothing outside the folder: absolute, .., or through a link"
