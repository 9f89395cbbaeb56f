"""The one error rendering raises on purpose."""

from __future__ import annotations


class RenderError(Exception):
    """A report could not be rendered; the one-line message says which engine failed and what to do."""
