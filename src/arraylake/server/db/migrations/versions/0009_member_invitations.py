"""members added by email stay invitations until they sign in

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

An admin who adds a member by email must not learn whether the address has an account on the service (nor,
through the member list, the name of the person behind it). ``memberships.invited_at`` marks a membership
made by email: the member list shows such a member by the address alone until its user next signs in.
"""

import sqlalchemy as sa
from alembic import op

from arraylake.server.db.schema import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("memberships", sa.Column("invited_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("invited_at")
