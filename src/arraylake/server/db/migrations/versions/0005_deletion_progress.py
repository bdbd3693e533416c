"""how many objects a repo's deletion has removed so far

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24

The cleaner records its count after every batch, so that whoever deleted a repo can follow the removal of
its data (the command line's progress bar).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("repos", sa.Column("cleanup_removed", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # Not in batch mode: rebuilding the table on SQLite would drop the triggers of 0004.
    op.drop_column("repos", "cleanup_removed")
