"""Reruns that do not repeat work: each notebook's execution per attempt (``executions``) and ``runs.reuse_after``.

``executions`` is keyed by ``(run_id, notebook)`` and indexed by ``run_pk``: the kept executions of one
run are read when its next attempt is claimed. ``runs.reuse_after`` is when ``--fresh`` was last asked.
``meta.schema_version`` becomes 4.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_reuse"
down_revision = "0003_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "executions",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("notebook", sa.String(64), primary_key=True),
        sa.Column("run_pk", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
        sa.Column("executed_by", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("parameters_sha256", sa.String(64), nullable=False),
        sa.Column("kernel", sa.String(255), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("folder", sa.Text, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("files_json", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("reuse_after", sa.Float, nullable=True))
    meta = sa.table("meta", sa.column("key"), sa.column("value"))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="4"))


def downgrade() -> None:
    meta = sa.table("meta", sa.column("key"), sa.column("value"))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="3"))
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("reuse_after")
    op.drop_table("executions")
