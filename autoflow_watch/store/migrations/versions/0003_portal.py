"""The outbox as a portal: the scalar scraps of each published report (``scraps``).

Pages are rebuilt per workflow from ``runs`` (its unique index on ``(workflow, reference_date)``
serves ``WHERE workflow = ?``), ``attempts`` (indexed by ``run_pk``) and this table, keyed by
``(workflow, reference_date)`` too: each query costs in proportion to that workflow's dates.
``meta.schema_version`` becomes 3.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_portal"
down_revision = "0002_several_daemons"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scraps",
        sa.Column("workflow", sa.String(64), primary_key=True),
        sa.Column("reference_date", sa.String(10), primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("values_json", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.Float, nullable=False),
    )
    meta = sa.table("meta", sa.column("key"), sa.column("value"))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="3"))


def downgrade() -> None:
    meta = sa.table("meta", sa.column("key"), sa.column("value"))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="2"))
    op.drop_table("scraps")
