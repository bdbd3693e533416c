"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from arraylake.server.db.engine import make_engine
from arraylake.server.db.migrate import alembic_config, current_revision, head_revision, upgrade
from arraylake.server.db.schema import metadata
from tests.support.postgres import PostgresCluster

_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"migrations_{next(_names)}")


async def test_upgrade_matches_the_declared_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == head_revision()

        def diff(connection: Any) -> list[Any]:
            return compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True}), metadata
            )

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []

        def downgrade(connection: Any) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, "base")

        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        assert await current_revision(engine) is None
        await upgrade(engine)  # and back up again
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_upgrading_keeps_the_data(database_url: str) -> None:
    """Each migration step keeps existing rows (SQLite must not rebuild tables and cascade deletes)."""
    from sqlalchemy import text

    engine = make_engine(database_url)
    cfg = alembic_config()

    def to(revision: str):  # type: ignore[no-untyped-def]
        def run(connection: Any) -> None:
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)

        return run

    try:
        async with engine.begin() as conn:
            await conn.run_sync(to("0001"))
        async with engine.begin() as conn:
            now = "2026-01-01 00:00:00+00:00"
            await conn.execute(
                text(f"insert into orgs (id, name, display_name, created) values ('o1', 'org1', '', '{now}')")
            )
            await conn.execute(
                text(
                    "insert into principals (id, kind, email, display_name, org_id, created) "
                    f"values ('p1', 'api_client', 'a@example.com', 'a', 'o1', '{now}')"
                )
            )
            await conn.execute(
                text(
                    "insert into memberships (org_id, principal_id, role, created) "
                    f"values ('o1', 'p1', 'admin', '{now}')"
                )
            )
        await upgrade(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text("select count(*) from memberships"))).scalar_one() == 1
            assert (await conn.execute(text("select email from principals"))).scalar_one() == "a@example.com"
    finally:
        await engine.dispose()


async def test_active_repo_counts_follow_every_lifecycle_change(database_url: str) -> None:
    """The triggers of 0004 keep ``orgs.active_repos`` equal to a count, through every kind of change, and
    the migration counts the repos that existed before it."""
    from sqlalchemy import bindparam, text

    from arraylake.server.db.schema import UtcDateTime

    def sql(statement: str) -> Any:
        return text(statement).bindparams(bindparam("now", type_=UtcDateTime))

    engine = make_engine(database_url)
    cfg = alembic_config()
    now = datetime(2026, 1, 1, tzinfo=UTC)

    def to_0003(connection: Any) -> None:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0003")

    async def add(conn: Any, repo_id: str, org: str, lifecycle: str) -> None:
        await conn.execute(
            sql(
                "insert into repos (id, org_id, name, live_name, lifecycle, kind, prefix, visibility,"
                " status_mode, status_initiated_by, metadata, created, updated, retain_data)"
                " values (:id, :org, :id, :id, :lc, 'icechunk', :id, 'PRIVATE', 'online', '{}', '{}',"
                " :now, :now, false)"
            ),
            {"id": repo_id, "org": org, "lc": lifecycle, "now": now},
        )

    async def counts(conn: Any) -> dict[str, tuple[int, int]]:
        rows = await conn.execute(
            text(
                "select id, active_repos, (select count(*) from repos where repos.org_id = orgs.id"
                " and lifecycle = 'active') from orgs order by id"
            )
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    try:
        async with engine.begin() as conn:
            await conn.run_sync(to_0003)
        async with engine.begin() as conn:
            for org in ("o1", "o2"):
                await conn.execute(
                    sql("insert into orgs (id, name, display_name, created) values (:o, :o, '', :now)"),
                    {"o": org, "now": now},
                )
            await add(conn, "before-a", "o1", "active")
            await add(conn, "before-b", "o1", "ghost")
        await upgrade(engine)
        async with engine.begin() as conn:
            assert await counts(conn) == {"o1": (1, 1), "o2": (0, 0)}
            await add(conn, "r1", "o1", "creating")
            await add(conn, "r2", "o2", "active")
            await add(conn, "r3", "o2", "active")
            await conn.execute(text("update repos set lifecycle = 'active' where id = 'r1'"))  # activated
            await conn.execute(text("update repos set lifecycle = 'ghost' where id = 'r2'"))  # soft-deleted
            await conn.execute(text("update repos set lifecycle = 'active' where id = 'before-b'"))  # restore
            await conn.execute(text("update repos set metadata = '{\"a\": 1}' where id = 'r3'"))  # no change
            await conn.execute(text("delete from repos where id = 'before-a'"))
            await conn.execute(text("delete from repos where id = 'r2'"))  # a ghost: not counted
            assert await counts(conn) == {"o1": (2, 2), "o2": (1, 1)}
    finally:
        await engine.dispose()
