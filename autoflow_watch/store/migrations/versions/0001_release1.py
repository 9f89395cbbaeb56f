"""Release 1's schema (0.1.0), as it created it: facts, runs, attempts, steps, meta.

A store made by release 1 has these tables and no ``alembic_version``; it is stamped with
this revision, never created again (see :mod:`autoflow_watch.store.migrate`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_release1"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "facts",
        sa.Column("dataset", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("sources", sa.String(64), nullable=False),
        sa.Column("meta_json", sa.Text, nullable=True),
        sa.Column("first_seen_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("delivery_key", sa.String(128), nullable=True),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workflow", sa.String(64), nullable=False),
        sa.Column("reference_date", sa.String(10), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("next_attempt_at", sa.Float, nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", sa.Float, nullable=True),
        sa.Column("rerun_requested", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.UniqueConstraint("workflow", "reference_date", name="uq_runs_workflow_date"),
    )
    op.create_table(
        "attempts",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("run_pk", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("error_type", sa.String(255), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("failing_notebook", sa.String(64), nullable=True),
        sa.Column("failing_cell", sa.Integer, nullable=True),
        sa.Column("parameters_json", sa.Text, nullable=True),
        sa.Column("kernel_pids_json", sa.Text, nullable=True),
        sa.Column("work_dir", sa.Text, nullable=True),
    )
    op.create_table(
        "steps",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("notebook", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.bulk_insert(sa.table("meta", sa.column("key"), sa.column("value")), [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    for table in ("steps", "attempts", "runs", "facts", "meta"):
        op.drop_table(table)
