"""the metastore of legacy V1 repos: sessions, commits, branches, tags and documents

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

A document version is keyed by (repo, collection, path, writing session), so that reading a path is one
index range over its few versions whatever the size of the repo; a session's own writes have an index of
their own (modified paths, rebase conflicts). Paths compare byte by byte on PostgreSQL (collation "C"), so
that a key prefix is one contiguous index range, as it is on SQLite.
"""

import sqlalchemy as sa
from alembic import op

from arraylake.server.db.schema import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_PATH = sa.String(1024).with_variant(sa.String(1024, collation="C"), "postgresql")


def _repo_id(primary_key: bool = False) -> sa.Column:
    return sa.Column(
        "repo_id",
        sa.String(24),
        sa.ForeignKey("repos.id", name=None, ondelete="CASCADE"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "v1_sessions",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        _repo_id(),
        sa.Column("branch", sa.String(256), nullable=True),
        sa.Column("base_commit", sa.String(24), nullable=True),
        sa.Column("author_name", sa.String(256), nullable=True),
        sa.Column("author_email", sa.String(320), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("session_type", sa.String(8), nullable=False),
        sa.Column("start_time", UtcDateTime(), nullable=False),
        sa.Column("expiration", UtcDateTime(), nullable=False),
        sa.Column("abandoned_at", UtcDateTime(), nullable=True),
        sa.Column("landed_commit", sa.String(24), nullable=True),
        sa.UniqueConstraint("id", name="uq_v1_sessions_id"),
    )
    op.create_index("ix_v1_sessions_repo_id_expiration", "v1_sessions", ["repo_id", "expiration"])

    op.create_table(
        "v1_commits",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(24), nullable=False),
        _repo_id(),
        sa.Column(
            "session_seq", sa.Integer(), sa.ForeignKey("v1_sessions.seq", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("parent_commit", sa.String(24), nullable=True),
        sa.Column("session_start_time", UtcDateTime(), nullable=False),
        sa.Column("commit_time", UtcDateTime(), nullable=False),
        sa.Column("author_name", sa.String(256), nullable=True),
        sa.Column("author_email", sa.String(320), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.UniqueConstraint("id", name="uq_v1_commits_id"),
    )
    op.create_index("ix_v1_commits_repo_id_seq", "v1_commits", ["repo_id", "seq"])
    op.create_index("ix_v1_commits_session_seq", "v1_commits", ["session_seq"])

    op.create_table(
        "v1_branches",
        _repo_id(primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("commit_id", sa.String(24), nullable=False),
    )
    op.create_table(
        "v1_tags",
        _repo_id(primary_key=True),
        sa.Column("label", sa.String(256), primary_key=True),
        sa.Column("commit_id", sa.String(24), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("author_name", sa.String(256), nullable=True),
        sa.Column("author_email", sa.String(320), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "v1_documents",
        _repo_id(primary_key=True),
        sa.Column("collection", sa.SmallInteger(), primary_key=True),
        sa.Column("path", _PATH, primary_key=True),
        sa.Column(
            "session_seq",
            sa.Integer(),
            sa.ForeignKey("v1_sessions.seq", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=True),
        sa.Column("chunk_bytes", sa.BigInteger(), nullable=True),
    )
    op.create_index(
        "ix_v1_documents_session_seq_collection_path", "v1_documents", ["session_seq", "collection", "path"]
    )


def downgrade() -> None:
    for table in ("v1_documents", "v1_tags", "v1_branches", "v1_commits", "v1_sessions"):
        op.drop_table(table)
