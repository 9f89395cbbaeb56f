"""Several daemons on one store: who holds a run (``runs.holder``), and an index for claims.

The index covers only the runs that may be due (pending or failed), in claim order, so that
``SELECT … FOR UPDATE SKIP LOCKED … LIMIT 1`` reads a row or two, not every run ever made.

Running runs of a release-1 store get their holder from their current attempt's host and pid.
``meta.schema_version`` becomes 2, so release 1 refuses the upgraded store instead of using it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_several_daemons"
down_revision = "0001_release1"
branch_labels = None
depends_on = None
DUE = "state = 'pending' OR state = 'failed'"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("holder", sa.String(255), nullable=True))
        batch.create_index(
            "ix_runs_due",
            ["reference_date", "id"],
            postgresql_where=sa.text(DUE),
            sqlite_where=sa.text(DUE),
        )
    runs = sa.table("runs", sa.column("run_id"), sa.column("state"), sa.column("holder"))
    attempts = sa.table("attempts", sa.column("run_id"), sa.column("host"), sa.column("pid"))
    holder = (
        sa.select(attempts.c.host + sa.literal(":") + sa.cast(attempts.c.pid, sa.String))
        .where(attempts.c.run_id == runs.c.run_id)
        .scalar_subquery()
    )
    op.execute(runs.update().where(runs.c.state == "running").values(holder=holder))
    meta = sa.table("meta", sa.column("key"), sa.column("value"))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="2"))


def downgrade() -> None:
    meta = sa.table("meta", sa.column("key"), sa.column("value"))
    op.execute(meta.update().where(meta.c.key == "schema_version").values(value="1"))
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_due")
        batch.drop_column("holder")
