"""virtual chunk policies

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from arraylake.server.db.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "virtual_chunk_policies",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("bucket_id", sa.String(length=36), nullable=False),
        sa.Column("subprefix", sa.String(length=256), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["bucket_id"],
            ["buckets.id"],
            name=op.f("fk_virtual_chunk_policies_bucket_id_buckets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_virtual_chunk_policies_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_virtual_chunk_policies")),
        sa.UniqueConstraint(
            "bucket_id", "subprefix", name=op.f("uq_virtual_chunk_policies_bucket_id_subprefix")
        ),
    )
    op.create_index(
        op.f("ix_virtual_chunk_policies_org_id"), "virtual_chunk_policies", ["org_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_virtual_chunk_policies_org_id"), table_name="virtual_chunk_policies")

    op.drop_table("virtual_chunk_policies")
