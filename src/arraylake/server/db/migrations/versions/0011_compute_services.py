"""compute services: one row per deployment of an org, what is wanted and what is

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

The API writes the wanted state (``desired``, the config, ``generation`` bumped on every change); the
supervisor writes the observed one (``status`` and its detail, ``port``, ready replicas, the generation its
processes run). A public deployment reads the org's repos as an API client of its own (``reader_id``).
"""

import sqlalchemy as sa
from alembic import op

from arraylake.server.db.schema import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compute_services",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(36), sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("service_type", sa.String(16), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("sku_code", sa.String(16), nullable=False),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=True),
        sa.Column("updated", UtcDateTime(), nullable=False),
        sa.Column("desired", sa.String(16), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("ready_replicas", sa.Integer(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("running_generation", sa.Integer(), nullable=True),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("last_request_at", UtcDateTime(), nullable=True),
        sa.Column("wake_requested_at", UtcDateTime(), nullable=True),
        sa.Column(
            "reader_id", sa.String(36), sa.ForeignKey("principals.id", ondelete="SET NULL"), nullable=True
        ),
        sa.UniqueConstraint("org_id", "name", name="uq_compute_services_org_id_name"),
    )


def downgrade() -> None:
    op.drop_table("compute_services")
