"""browser sign-ins end on the server; device codes remember who asked for them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08

A browser sign-in was a signed cookie and nothing else, so signing out only asked the browser to forget it: a
copy kept working until it expired. ``web_sessions`` holds one row per sign-in (the SHA-256 of the id the
cookie carries); signing out ends the row, and a cookie whose row is ended, expired or missing signs nobody
in. ``device_codes.requested_from`` is the address that asked for a device code, shown on the approval page
so that a user can tell a login they started from one a phisher started.
"""

import sqlalchemy as sa
from alembic import op

from arraylake.server.db.schema import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("device_codes", sa.Column("requested_from", sa.String(length=64), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=36), nullable=False),
        sa.Column("created", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["principal_id"],
            ["principals.id"],
            name=op.f("fk_web_sessions_principal_id_principals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_web_sessions")),
    )
    op.create_index(op.f("ix_web_sessions_principal_id"), "web_sessions", ["principal_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_web_sessions_principal_id"), table_name="web_sessions")
    op.drop_table("web_sessions")
    # Not in batch mode: SQLite drops the column in place, as in 0006.
    op.drop_column("device_codes", "requested_from")
