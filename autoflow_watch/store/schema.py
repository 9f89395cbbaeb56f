"""Tables of the state store. Dates are ISO strings and times epoch seconds (UTC), so the
same schema behaves identically on SQLite and PostgreSQL.

This is the schema at the newest migration (``store/migrations/versions``): a change here is a new
revision there, which upgrades stores in place. ``meta.schema_version`` follows the revisions so that
release 1, which reads only that row, refuses a store written by a newer version.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

SCHEMA_VERSION = 4  # release 1 wrote 1 (and knows no newer one)

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

facts = Table(
    "facts",
    metadata,
    Column("dataset", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("source", String(16), nullable=False),  # the source that reported it first
    Column("sources", String(64), nullable=False),  # every source that reported it, comma-joined
    Column("meta_json", Text, nullable=True),
    Column("first_seen_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("deliveries", Integer, nullable=False, default=1),
    Column("delivery_key", String(128), nullable=True),  # the marker file last delivered
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow", String(64), nullable=False),
    Column("reference_date", String(10), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=3),
    Column("run_id", String(64), nullable=True),  # the current or last attempt
    Column("next_attempt_at", Float, nullable=True),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", Float, nullable=True),
    Column("holder", String(255), nullable=True),  # "<host>:<pid>" of the daemon holding the lease
    Column("rerun_requested", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("error", Text, nullable=True),
    Column("reuse_after", Float, nullable=True),  # the last --fresh: no execution begun before it is reused
    UniqueConstraint("workflow", "reference_date", name="uq_runs_workflow_date"),
    # the claim order over the runs that may be due, and nothing else: claiming stays O(1) however
    # many runs are done (partial on both backends)
    Index(
        "ix_runs_due",
        "reference_date",
        "id",
        postgresql_where=text("state = 'pending' OR state = 'failed'"),
        sqlite_where=text("state = 'pending' OR state = 'failed'"),
    ),
)

attempts = Table(
    "attempts",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("run_pk", Integer, ForeignKey("runs.id"), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("owner", String(128), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),  # running, succeeded, failed, interrupted, expired
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("error_type", String(255), nullable=True),
    Column("error", Text, nullable=True),
    Column("failing_notebook", String(64), nullable=True),
    Column("failing_cell", Integer, nullable=True),
    Column("parameters_json", Text, nullable=True),
    Column("kernel_pids_json", Text, nullable=True),
    Column("work_dir", Text, nullable=True),
)

steps = Table(
    "steps",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("notebook", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("duration_s", Float, nullable=True),
    Column("error", Text, nullable=True),
)

# the scalar scraps a report notebook glued (scrapbook), one row per run: the outbox portal's figures.
# Written when a report is published, so that pages rebuild from here without reading notebooks.
scraps = Table(
    "scraps",
    metadata,
    Column("workflow", String(64), primary_key=True),
    Column("reference_date", String(10), primary_key=True),
    Column("run_id", String(64), nullable=False),  # the attempt whose report glued them
    Column("values_json", Text, nullable=False),  # {"<notebook>": {"<scrap>": number or short string}}
    Column("recorded_at", Float, nullable=False),
)

# each notebook's execution in each attempt that ended by itself: what a later attempt of the run may
# reuse (docs/reuse.md). ``run_id`` is the attempt whose folder holds the copy, ``executed_by`` the one
# that executed it.
executions = Table(
    "executions",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("notebook", String(64), primary_key=True),
    Column("run_pk", Integer, ForeignKey("runs.id"), nullable=False, index=True),
    Column("executed_by", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),  # ExecutionOutcome
    Column("source_sha256", String(64), nullable=False),
    Column("parameters_sha256", String(64), nullable=False),
    Column("kernel", String(255), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("duration_s", Float, nullable=True),
    Column("folder", Text, nullable=False),
    Column("host", String(255), nullable=False),
    Column("files_json", Text, nullable=False),
    Column("recorded_at", Float, nullable=False),
)
