"""version each org's list of active repos, so that a process can tell its cached page anchors are current

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

``orgs.repo_list_version`` goes up by one in the same transaction as every change to the ordered list of
an org's active repos (one added or removed, renamed, or moved to another org); other updates leave it.
Every service process compares it with the version its anchors for deep pages were built from
(``repos.page_anchors``). One set of triggers now keeps both ``active_repos`` and the version: those of
0004 are replaced, and restored on downgrade. As 0004 says, rebuilding ``repos`` in SQLite batch mode
would drop them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# An update bumps the version of the old org if the repo was active there or stays in it (bumped once), and
# of the new org if the repo is active there and moved.
_SQLITE = [
    """CREATE TRIGGER repos_track_insert AFTER INSERT ON repos WHEN NEW.lifecycle = 'active'
    BEGIN
        UPDATE orgs SET active_repos = active_repos + 1, repo_list_version = repo_list_version + 1
        WHERE id = NEW.org_id;
    END""",
    """CREATE TRIGGER repos_track_delete AFTER DELETE ON repos WHEN OLD.lifecycle = 'active'
    BEGIN
        UPDATE orgs SET active_repos = active_repos - 1, repo_list_version = repo_list_version + 1
        WHERE id = OLD.org_id;
    END""",
    """CREATE TRIGGER repos_track_update AFTER UPDATE OF lifecycle, org_id, name, id ON repos
    WHEN (OLD.lifecycle = 'active' OR NEW.lifecycle = 'active')
        AND (OLD.lifecycle IS NOT NEW.lifecycle OR OLD.org_id IS NOT NEW.org_id
             OR OLD.name IS NOT NEW.name OR OLD.id IS NOT NEW.id)
    BEGIN
        UPDATE orgs SET active_repos = active_repos - (OLD.lifecycle = 'active'),
            repo_list_version = repo_list_version + (OLD.lifecycle = 'active' OR OLD.org_id IS NEW.org_id)
        WHERE id = OLD.org_id;
        UPDATE orgs SET active_repos = active_repos + (NEW.lifecycle = 'active'),
            repo_list_version = repo_list_version
                + (NEW.lifecycle = 'active' AND OLD.org_id IS NOT NEW.org_id)
        WHERE id = NEW.org_id;
    END""",
]

_POSTGRES = [
    """CREATE FUNCTION arraylake_track_active_repos() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            IF (OLD.lifecycle <> 'active' AND NEW.lifecycle <> 'active')
                OR (OLD.lifecycle = NEW.lifecycle AND OLD.org_id = NEW.org_id
                    AND OLD.name = NEW.name AND OLD.id = NEW.id) THEN
                RETURN NULL;
            END IF;
            IF OLD.org_id = NEW.org_id THEN
                UPDATE orgs SET active_repos = active_repos
                        + (NEW.lifecycle = 'active')::int - (OLD.lifecycle = 'active')::int,
                    repo_list_version = repo_list_version + 1
                WHERE id = NEW.org_id;
                RETURN NULL;
            END IF;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.lifecycle = 'active' THEN
            UPDATE orgs SET active_repos = active_repos - 1, repo_list_version = repo_list_version + 1
            WHERE id = OLD.org_id;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.lifecycle = 'active' THEN
            UPDATE orgs SET active_repos = active_repos + 1, repo_list_version = repo_list_version + 1
            WHERE id = NEW.org_id;
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER repos_track_active AFTER INSERT OR DELETE OR UPDATE OF lifecycle, org_id, name, id
    ON repos FOR EACH ROW EXECUTE FUNCTION arraylake_track_active_repos()""",
]

# 0004's triggers, verbatim: what downgrade restores.
_SQLITE_0004 = [
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

_POSTGRES_0004 = [
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


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _postgres():
        op.execute("DROP TRIGGER repos_count_active ON repos")
        op.execute("DROP FUNCTION arraylake_count_active_repos()")
    else:
        for name in ("repos_count_insert", "repos_count_delete", "repos_count_update"):
            op.execute(f"DROP TRIGGER {name}")
    op.add_column("orgs", sa.Column("repo_list_version", sa.BigInteger(), server_default="0", nullable=False))
    for statement in _POSTGRES if _postgres() else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if _postgres():
        op.execute("DROP TRIGGER repos_track_active ON repos")
        op.execute("DROP FUNCTION arraylake_track_active_repos()")
    else:
        for name in ("repos_track_insert", "repos_track_delete", "repos_track_update"):
            op.execute(f"DROP TRIGGER {name}")
    # Not in batch mode: SQLite drops the column in place (a rebuild of orgs would cascade to its children).
    op.drop_column("orgs", "repo_list_version")
    for statement in _POSTGRES_0004 if _postgres() else _SQLITE_0004:
        op.execute(statement)
