"""The revision a start trusts without Alembic is Alembic's head: a new migration must move it too."""

from __future__ import annotations

from autoflow_watch.store import migrate


def test_the_head_a_current_store_is_checked_against_is_alembics_head():
    assert migrate.head() == migrate.HEAD
