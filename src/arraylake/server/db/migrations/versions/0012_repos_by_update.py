"""repos by last update: the catalog's "recently updated" pages are index range scans

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

The web catalog sorts an org's active repos by name or by ``updated`` and pages with a cursor (the sort key
and the id of the last row). ``(org_id, lifecycle, name, id)`` serves the name order; this index serves the
other, both ways, so that a page at any depth reads only its own rows.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_repos_org_id_lifecycle_updated_id", "repos", ["org_id", "lifecycle", "updated", "id"])


def downgrade() -> None:
    op.drop_index("ix_repos_org_id_lifecycle_updated_id", table_name="repos")
