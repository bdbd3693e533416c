"""A migrated catalog per backend (SQLite file, the suite's PostgreSQL) and a fresh V1 repo per test."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server.db.engine import make_engine
from arraylake.server.db.migrate import upgrade
from arraylake.server.db.schema import orgs, repos
from arraylake.types.v1 import new_object_id
from tests.support.postgres import PostgresCluster

_names = itertools.count()
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('v1') / 'catalog.db'}"
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        url = cluster.create_database(f"v1_{next(_names)}")
    engine = make_engine(url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def repo(engine: AsyncEngine) -> str:
    """The id of a new V1 repo in a new org."""
    org_id, repo_id = f"org-{new_object_id()}", new_object_id()
    async with engine.begin() as conn:
        await conn.execute(insert(orgs).values(id=org_id, name=org_id, display_name="", created=NOW))
        await conn.execute(
            insert(repos).values(
                id=repo_id,
                org_id=org_id,
                name="r",
                live_name="r",
                kind="v1",
                prefix="",
                visibility="PRIVATE",
                status_mode="online",
                status_initiated_by={},
                created=NOW,
                updated=NOW,
                lifecycle="active",
            )
        )
    return repo_id


def sqlite_path(engine: AsyncEngine) -> Path | None:
    return Path(engine.url.database) if engine.dialect.name == "sqlite" and engine.url.database else None
