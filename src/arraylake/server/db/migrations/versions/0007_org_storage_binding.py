"""bind each org's delegated storage to it; org names unique whatever their case

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

``orgs.storage_binding`` is a random value the service generates for every org and no customer chooses:
the STS external id the service always sends when it assumes an org's AWS role, and the marker an org sets on
its GCS buckets and Azure containers to prove that it controls them (``credentials.binding``). Existing orgs
get one here. Org names that differ only in case would share a directory on case-insensitive filesystems,
so a unique index on the lower-cased name refuses the second one.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orgs", sa.Column("storage_binding", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    orgs = sa.table("orgs", sa.column("id", sa.String), sa.column("storage_binding", sa.String))
    for (org_id,) in conn.execute(sa.select(orgs.c.id)).all():
        conn.execute(orgs.update().where(orgs.c.id == org_id).values(storage_binding=secrets.token_hex(16)))
    folded = (
        conn.execute(sa.text("SELECT lower(name) FROM orgs GROUP BY lower(name) HAVING count(*) > 1"))
        .scalars()
        .all()
    )
    if folded:
        raise RuntimeError(
            "org names that differ only in case must be renamed before this upgrade: " + ", ".join(folded)
        )
    op.create_index("ix_orgs_name_folded", "orgs", [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    op.drop_index("ix_orgs_name_folded", table_name="orgs")
    # Not in batch mode: rebuilding the table on SQLite would drop the triggers of 0006.
    op.drop_column("orgs", "storage_binding")
