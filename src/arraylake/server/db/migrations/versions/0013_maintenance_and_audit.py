"""maintenance runs and policies; the hash-chained audit log

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Repos and orgs gain a maintenance policy (``optimization_config``, the hosted dialect's shape) and repos the
chunk bytes last measured; ``maintenance_runs`` holds every run with its lease and report.
``audit_log`` is the append-only, hash-chained log, ``audit_head`` its single head row (seeded here)
and ``audit_checkpoints`` the signed checkpoints of the chain.
"""

import sqlalchemy as sa
from alembic import op

from arraylake.server.db.schema import UtcDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    # Not in batch mode: rebuilding a table on SQLite would drop its triggers (0004, 0006) and the
    # expression index on org names (0007).
    op.add_column("orgs", sa.Column("optimization_config", sa.JSON(), nullable=True))
    op.add_column("repos", sa.Column("optimization_config", sa.JSON(), nullable=True))
    op.add_column("repos", sa.Column("size_bytes", sa.BigInteger(), nullable=True))
    op.add_column("repos", sa.Column("size_measured_at", UtcDateTime(), nullable=True))
    op.create_table(
        "maintenance_runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("repo_id", sa.String(24), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=True),
        sa.Column("requested_by", sa.String(36), nullable=True),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("estimated_end", UtcDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("previous_status", sa.JSON(), nullable=True),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_maintenance_runs"),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], ondelete="CASCADE", name="fk_maintenance_runs_repo_id_repos"
        ),
    )
    op.create_index(
        "ix_maintenance_runs_repo_id_requested_at", "maintenance_runs", ["repo_id", "requested_at"]
    )
    op.create_index(
        "ix_maintenance_runs_state_lease_expires_at", "maintenance_runs", ["state", "lease_expires_at"]
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=True),
        sa.Column("org", sa.String(64), nullable=True),
        sa.Column("actor_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(320), nullable=True),
        sa.Column("repo", sa.String(128), nullable=True),
        sa.Column("target", sa.String(512), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("client_address", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_org_id_seq", "audit_log", ["org_id", "seq"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_checkpoints"),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_org_id_seq", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_maintenance_runs_state_lease_expires_at", table_name="maintenance_runs")
    op.drop_index("ix_maintenance_runs_repo_id_requested_at", table_name="maintenance_runs")
    op.drop_table("maintenance_runs")
    op.drop_column("repos", "size_measured_at")
    op.drop_column("repos", "size_bytes")
    op.drop_column("repos", "optimization_config")
    op.drop_column("orgs", "optimization_config")
