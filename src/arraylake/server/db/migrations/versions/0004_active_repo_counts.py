"""count each org's active repos with triggers; an index that covers a page of repos

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24

A page of repos reports the total; counting an org's repos on every page grows with the catalog. The
triggers keep ``orgs.active_repos`` exact in the same transaction as every change to a repo's lifecycle,
whoever makes it. The page index gains ``id`` (the tie-break of the order), so that a deep page skips
through the index alone. A later migration that rebuilds the ``repos`` table on SQLite (batch mode) must
create the SQLite triggers again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SQLITE = [
    """CREATE TRIGGER repos_count_insert AFTER INSERT ON repos WHEN NEW.lifecycle = 'active'
    BEGIN UPDATE orgs SET active_repos = active_repos + 1 WHERE id = NEW.org_id; END""",
    """CREATE TRIGGER repos_count_delete AFTER DELETE ON repos WHEN OLD.lifecycle = 'active'
    BEGIN UPDATE orgs SET active_repos = active_repos - 1 WHERE id = OLD.org_id; END""",
    """CREATE TRIGGER repos_count_update AFTER UPDATE OF lifecycle, org_id ON repos
    WHEN OLD.lifecycle IS NOT NEW.lifecycle OR OLD.org_id IS NOT NEW.org_id
    BEGIN
        UPDATE orgs SET active_repos = active_repos - (OLD.lifecycle = 'active') WHERE id = OLD.org_id;
        UPDATE orgs SET active_repos = active_repos + (NEW.lifecycle = 'active') WHERE id = NEW.org_id;
    END""",
]

_POSTGRES = [
    """CREATE FUNCTION arraylake_count_active_repos() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD.lifecycle = NEW.lifecycle AND OLD.org_id = NEW.org_id THEN
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.lifecycle = 'active' THEN
            UPDATE orgs SET active_repos = active_repos - 1 WHERE id = OLD.org_id;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.lifecycle = 'active' THEN
            UPDATE orgs SET active_repos = active_repos + 1 WHERE id = NEW.org_id;
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER repos_count_active AFTER INSERT OR DELETE OR UPDATE OF lifecycle, org_id ON repos
    FOR EACH ROW EXECUTE FUNCTION arraylake_count_active_repos()""",
]


def upgrade() -> None:
    op.drop_index("ix_repos_org_id_lifecycle_name", table_name="repos")
    op.create_index("ix_repos_org_id_lifecycle_name_id", "repos", ["org_id", "lifecycle", "name", "id"])
    op.add_column("orgs", sa.Column("active_repos", sa.BigInteger(), server_default="0", nullable=False))
    op.execute(
        "UPDATE orgs SET active_repos = "
        "(SELECT count(*) FROM repos WHERE repos.org_id = orgs.id AND repos.lifecycle = 'active')"
    )
    for statement in _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER repos_count_active ON repos")
        op.execute("DROP FUNCTION arraylake_count_active_repos()")
    else:
        for name in ("repos_count_insert", "repos_count_delete", "repos_count_update"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("orgs") as batch:
        batch.drop_column("active_repos")
    op.drop_index("ix_repos_org_id_lifecycle_name_id", table_name="repos")
    op.create_index("ix_repos_org_id_lifecycle_name", "repos", ["org_id", "lifecycle", "name"])
