"""initial catalog

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

from arraylake.server.db.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orgs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("default_bucket_id", sa.String(length=36), nullable=True),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs")),
        sa.UniqueConstraint("name", name=op.f("uq_orgs_name")),
    )
    op.create_table(
        "buckets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("nickname", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("prefix", sa.String(length=256), nullable=False),
        sa.Column("extra_config", sa.JSON(), nullable=False),
        sa.Column("auth_method", sa.String(length=64), nullable=False),
        sa.Column("auth_config", sa.JSON(), nullable=False),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.Column("updated", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_buckets_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buckets")),
        sa.UniqueConstraint("org_id", "nickname", name=op.f("uq_buckets_org_id_nickname")),
    )
    op.create_index(op.f("ix_buckets_platform_name"), "buckets", ["platform", "name"], unique=False)

    op.create_table(
        "principals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_name", sa.String(length=128), nullable=True),
        sa.Column("family_name", sa.String(length=128), nullable=True),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=True),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.Column("disabled_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_principals_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_principals")),
    )
    op.create_index(op.f("ix_principals_org_id"), "principals", ["org_id"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("last_used_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_api_tokens_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_principal_id"), "api_tokens", ["principal_id"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_memberships_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_memberships_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("org_id", "principal_id", name=op.f("pk_memberships")),
    )
    op.create_index(op.f("ix_memberships_principal_id"), "memberships", ["principal_id"], unique=False)

    op.create_table(
        "repos",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("live_name", sa.String(length=128), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("bucket_id", sa.String(length=36), nullable=True),
        sa.Column("prefix", sa.String(length=512), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("visibility", sa.String(length=32), nullable=False),
        sa.Column("status_mode", sa.String(length=16), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("status_initiated_by", sa.JSON(), nullable=False),
        sa.Column("status_estimated_end_time", UtcDateTime(), nullable=True),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.Column("updated", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("lifecycle", sa.String(length=16), nullable=False),
        sa.Column("lease_expires_at", UtcDateTime(), nullable=True),
        sa.Column("deleted_at", UtcDateTime(), nullable=True),
        sa.Column("deleted_by", sa.String(length=36), nullable=True),
        sa.Column("retain_data", sa.Boolean(), nullable=False),
        sa.Column("cleanup_due_at", UtcDateTime(), nullable=True),
        sa.Column("cleanup_started_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["bucket_id"], ["buckets.id"], name=op.f("fk_repos_bucket_id_buckets")),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_repos_org_id_orgs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repos")),
        sa.UniqueConstraint("org_id", "live_name", name=op.f("uq_repos_org_id_live_name")),
    )
    op.create_index(op.f("ix_repos_bucket_id_prefix"), "repos", ["bucket_id", "prefix"], unique=False)
    op.create_index(
        op.f("ix_repos_lifecycle_cleanup_due_at"), "repos", ["lifecycle", "cleanup_due_at"], unique=False
    )
    op.create_index(
        op.f("ix_repos_org_id_lifecycle_name"), "repos", ["org_id", "lifecycle", "name"], unique=False
    )

    op.create_table(
        "repo_metadata",
        sa.Column("repo_id", sa.String(length=24), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("value_hash", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["repo_id"], ["repos.id"], name=op.f("fk_repo_metadata_repo_id_repos"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("repo_id", "key", "value_hash", name=op.f("pk_repo_metadata")),
    )
    op.create_index(
        op.f("ix_repo_metadata_key_value_hash"), "repo_metadata", ["key", "value_hash"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_repo_metadata_key_value_hash"), table_name="repo_metadata")

    op.drop_table("repo_metadata")
    op.drop_index(op.f("ix_repos_org_id_lifecycle_name"), table_name="repos")
    op.drop_index(op.f("ix_repos_lifecycle_cleanup_due_at"), table_name="repos")
    op.drop_index(op.f("ix_repos_bucket_id_prefix"), table_name="repos")

    op.drop_table("repos")
    op.drop_index(op.f("ix_memberships_principal_id"), table_name="memberships")

    op.drop_table("memberships")
    op.drop_index(op.f("ix_api_tokens_principal_id"), table_name="api_tokens")

    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_principals_org_id"), table_name="principals")

    op.drop_table("principals")
    op.drop_index(op.f("ix_buckets_platform_name"), table_name="buckets")

    op.drop_table("buckets")
    op.drop_table("orgs")
