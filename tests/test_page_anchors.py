"""Deep pages of repos by number, read from cached anchors, on SQLite and PostgreSQL: every page equals the
OFFSET answer, also right after each kind of change to the list made elsewhere (anchors are never used
stale); the triggers of migration 0006 version the list; concurrent pages rebuild once, and a changing org
waits before rebuilding again; a second service process's writes show at once."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import delete, insert, inspect, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arraylake.server.bootstrap import init_org
from arraylake.server.buckets.service import BucketCodec
from arraylake.server.db.engine import make_engine, read_engine
from arraylake.server.db.migrate import alembic_config, head_revision, upgrade
from arraylake.server.db.schema import buckets, orgs, repos
from arraylake.server.identity.principals import OrgScope
from arraylake.server.repos import page_anchors
from arraylake.server.repos.listing import list_repos
from arraylake.server.repos.page_anchors import PageAnchors, Seek
from arraylake.server.sealing import SecretBox
from arraylake.server.settings import ServerSettings
from arraylake.types import PaginatedRepos
from tests.conftest import make_service
from tests.support.postgres import PostgresCluster
from tests.support.service import ArraylakeService

SPACING = 8
NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Names whose order differs between case-sensitive, case-folding and punctuation-aware collations.
NAMES = [f"repo-{i:03d}" for i in range(280)] + ["A", "a", "B-2", "b_1", "b.0", "_x", "Zed", "z9", "0"]
_databases = itertools.count()


def database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"anchors_{next(_databases)}")


def row(org_id: str, bucket_id: str | None, name: str, lifecycle: str = "active") -> dict[str, Any]:
    return {
        "id": hashlib.sha256(f"{org_id}/{name}".encode()).hexdigest()[:24],
        "org_id": org_id,
        "name": name,
        "live_name": name,
        "kind": "icechunk",
        "bucket_id": bucket_id,
        "prefix": f"p/{name}",
        "visibility": "PRIVATE",
        "status_mode": "online",
        "status_initiated_by": {},
        "metadata": None,
        "created": NOW,
        "updated": NOW,
        "lifecycle": lifecycle,
        "retain_data": False,
    }


class Recording(PageAnchors):
    """Anchors that remember where they sent each page."""

    def __init__(self, **options: Any) -> None:
        super().__init__(SPACING, **options)
        self.seeks: list[Seek | None] = []

    async def seek(self, conn: AsyncConnection, org_id: str, offset: int) -> Seek | None:
        found = await super().seek(conn, org_id, offset)
        self.seeks.append(found)
        return found


@dataclass
class Catalog:
    engine: AsyncEngine
    codec: BucketCodec
    org: OrgScope
    other_org: OrgScope
    bucket_id: str

    async def add(self, *names: str, lifecycle: str = "active") -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(repos), [row(self.org.org_id, self.bucket_id, n, lifecycle) for n in names]
            )

    async def change(self, statement: Any) -> None:
        """A write by someone else (another process: nothing tells the anchors)."""
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def version(self, org: OrgScope | None = None) -> int:
        async with self.engine.connect() as conn:
            query = select(orgs.c.repo_list_version).where(orgs.c.id == (org or self.org).org_id)
            return (await conn.execute(query)).scalar_one()

    async def page(self, page: int, size: int, anchors: PageAnchors | None) -> PaginatedRepos:
        async with read_engine(self.engine).connect() as conn:
            return await list_repos(
                conn, self.codec, self.org, page=page, size=size, filters={}, anchors=anchors
            )

    async def assert_pages_as_offset(self, anchors: PageAnchors, size: int) -> int:
        """Every page of ``size`` (and two past the end) equals OFFSET's; returns how many there were."""
        first = await self.page(1, size, None)
        assert first.total == (await self.count())
        for number in range(1, first.pages + 3):
            expected = await self.page(number, size, None)
            assert (await self.page(number, size, anchors)).model_dump() == expected.model_dump(), number
        return first.pages

    async def count(self) -> int:
        return len(await self.rows())

    async def rows(self) -> list[tuple[str, str]]:
        """The org's active repos as ``(name, id)``, in page order (the database's collation)."""
        async with self.engine.connect() as conn:
            query = (
                select(repos.c.name, repos.c.id)
                .where(repos.c.org_id == self.org.org_id, repos.c.lifecycle == "active")
                .order_by(repos.c.name, repos.c.id)
            )
            return [(r.name, r.id) for r in await conn.execute(query)]


@pytest.fixture(params=["sqlite", "postgres"])
async def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Catalog]:
    settings = ServerSettings(
        data_dir=tmp_path / "data", database_url=database(request.param, request, tmp_path)
    )
    await init_org(settings, "anchors", local_bucket=True, admin_email="admin@example.com")
    await init_org(settings, "elsewhere", local_bucket=False, admin_email="admin@example.com")
    engine = make_engine(settings.resolved_database_url)
    async with engine.connect() as conn:
        ids = dict((await conn.execute(select(orgs.c.name, orgs.c.id))).all())
        bucket_id = (await conn.execute(select(buckets.c.id))).scalar_one()
    found = Catalog(
        engine,
        BucketCodec(settings, SecretBox.from_settings(settings)),
        OrgScope(ids["anchors"], "anchors"),
        OrgScope(ids["elsewhere"], "elsewhere"),
        bucket_id,
    )
    await found.add(*NAMES)
    yield found
    await engine.dispose()


@pytest.fixture
def rebuilds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The anchor counts of every rebuild (each one reads the org's whole index)."""
    done: list[int] = []
    read = page_anchors.read_anchors

    async def counted(conn: AsyncConnection, org_id: str, spacing: int) -> page_anchors.Anchors | None:
        found = await read(conn, org_id, spacing)
        done.append(-1 if found is None else len(found.keys))
        return found

    monkeypatch.setattr(page_anchors, "read_anchors", counted)
    return done


async def test_every_page_equals_the_offset_answer(catalog: Catalog, rebuilds: list[int]) -> None:
    anchors = Recording()
    for size in (1, 7, 50, 1000):
        await catalog.assert_pages_as_offset(anchors, size)
    assert rebuilds == [(len(NAMES) - 1) // SPACING]  # one rebuild served every walk
    version = await catalog.version()
    used = [s for s in anchors.seeks if s is not None]
    assert len(used) > len(NAMES) and all(s.version == version for s in used)
    # pages seek from an anchor once their offset reaches the spacing
    await catalog.page(2, SPACING - 1, anchors)
    assert anchors.seeks[-1] is None
    await catalog.page(2, SPACING, anchors)
    assert anchors.seeks[-1] == Seek(version, *(await catalog.rows())[SPACING], 0)


async def test_no_page_comes_from_stale_anchors(catalog: Catalog, rebuilds: list[int]) -> None:
    """After every kind of change, made where the cache cannot hear of it, each page is exact."""
    anchors = Recording(quiet_factor=0)
    ordinary = Recording(quiet_factor=1e9)  # may not rebuild again after its first: OFFSET answers
    org_id = catalog.org.org_id

    def new(name: str, lifecycle: str = "active") -> Any:
        return insert(repos).values(row(org_id, None, name, lifecycle))

    def change(repo: str, **values: Any) -> Any:
        return update(repos).where(repos.c.name == repo).values(**values)

    changes: list[tuple[str, Any, bool]] = [
        ("a repo created before every anchor", new("0000"), True),
        ("a repo created, hidden while creating", new("mid-c", "creating"), False),
        ("activated", change("mid-c", lifecycle="active"), True),
        ("metadata changed", change("repo-100", metadata={"a": 1}), False),
        ("soft-deleted", change("repo-050", lifecycle="ghost"), True),
        ("a ghost renamed", change("repo-050", name="repo-050x"), False),
        ("restored", change("repo-050x", lifecycle="active"), True),
        ("deleted now", change("repo-020", lifecycle="deleting", live_name=None), True),
        ("its row removed", delete(repos).where(repos.c.name == "repo-020"), False),
        ("an active row removed", delete(repos).where(repos.c.name == "repo-200"), True),
        ("renamed", change("repo-010", name="zzz", live_name="zzz"), True),
        ("moved to another org", change("repo-150", org_id=catalog.other_org.org_id), True),
    ]
    await catalog.assert_pages_as_offset(anchors, 7)
    await catalog.assert_pages_as_offset(ordinary, 7)
    for what, statement, reorders in changes:
        before = await catalog.version()
        await catalog.change(statement)
        assert await catalog.version() == before + reorders, what
        await catalog.assert_pages_as_offset(anchors, 7)
        used = [s for s in anchors.seeks if s is not None]
        assert used[-1].version == await catalog.version(), what
        await catalog.assert_pages_as_offset(ordinary, 7)
    relevant = sum(reorders for _, _, reorders in changes)
    assert len(rebuilds) == 2 + relevant  # the first walks, then once per change to the list
    assert ordinary.seeks[-1] is None


async def test_a_changing_org_waits_before_rebuilding(
    catalog: Catalog, rebuilds: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    read = page_anchors.read_anchors

    async def slow(conn: AsyncConnection, org_id: str, spacing: int) -> page_anchors.Anchors | None:
        now[0] += 2.0  # each rebuild "costs" two seconds
        return await read(conn, org_id, spacing)

    monkeypatch.setattr(page_anchors, "read_anchors", slow)
    anchors = Recording(quiet_factor=10, clock=lambda: now[0])
    deep = len(NAMES) // 2 // 7
    assert (await catalog.page(deep, 7, anchors)) == await catalog.page(deep, 7, None)
    assert anchors.seeks[-1] is not None

    await catalog.add("aaa")
    now[0] += 19.0  # 20 s after the rebuild ended, 10 x its cost is not yet over
    assert (await catalog.page(deep, 7, anchors)) == await catalog.page(deep, 7, None)
    assert anchors.seeks[-2] is not None and anchors.seeks[-1] is None  # stale: dropped, OFFSET answered
    assert (await catalog.page(deep, 7, anchors)) == await catalog.page(deep, 7, None)
    assert anchors.seeks[-1] is None and len(rebuilds) == 1
    now[0] += 1.5
    assert (await catalog.page(deep, 7, anchors)) == await catalog.page(deep, 7, None)
    assert anchors.seeks[-1] is not None and anchors.seeks[-1].version == await catalog.version()


async def test_concurrent_pages_rebuild_once(
    catalog: Catalog, rebuilds: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    read = page_anchors.read_anchors

    async def slow(conn: AsyncConnection, org_id: str, spacing: int) -> page_anchors.Anchors | None:
        await asyncio.sleep(0.2)
        return await read(conn, org_id, spacing)

    monkeypatch.setattr(page_anchors, "read_anchors", slow)
    anchors = Recording()
    numbers = list(range(3, 40))
    pages = await asyncio.gather(*(catalog.page(n, 7, anchors) for n in numbers))
    assert len(rebuilds) == 1
    for number, got in zip(numbers, pages, strict=True):
        assert got == await catalog.page(number, 7, None)
    assert all(s is not None for s in anchors.seeks)


# ------------------------------------------------------------------------------------------- the triggers


async def test_the_version_follows_every_change_to_the_list_and_no_other(catalog: Catalog) -> None:
    """Raw SQL, as any client of the database would write it; the counter of 0004 stays exact too."""
    one, two = catalog.org.org_id, catalog.other_org.org_id

    async def state() -> dict[str, tuple[int, int, int]]:
        async with catalog.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "select id, repo_list_version, active_repos, (select count(*) from repos"
                    " where repos.org_id = orgs.id and lifecycle = 'active') from orgs"
                )
            )
            return {r[0]: (r[1], r[2], r[3]) for r in rows}

    steps: list[tuple[str, Callable[[AsyncConnection], Awaitable[Any]], tuple[int, int]]] = []

    def step(sql: str, bumps: tuple[int, int]) -> None:
        steps.append((sql, lambda conn: conn.execute(text(sql)), bumps))

    step("update repos set lifecycle = 'ghost' where name = 'repo-001'", (1, 0))
    step("update repos set lifecycle = 'deleting' where name = 'repo-001'", (0, 0))  # ghost -> deleting
    step("delete from repos where name = 'repo-001'", (0, 0))
    step("update repos set lifecycle = 'active' where name = 'repo-002'", (0, 0))  # no change
    step("update repos set status_mode = 'offline' where name = 'repo-002'", (0, 0))
    step("update repos set name = 'renamed', live_name = 'renamed' where name = 'repo-002'", (1, 0))
    step("update repos set id = 'ffffffffffffffffffffffff' where name = 'renamed'", (1, 0))
    step(f"update repos set org_id = '{two}' where name = 'repo-003'", (1, 1))
    step("update repos set lifecycle = 'ghost' where name = 'repo-003'", (0, 1))
    step(f"update repos set org_id = '{one}' where name = 'repo-003'", (0, 0))  # a ghost moved back
    step("update repos set lifecycle = 'active', name = 'again' where name = 'repo-003'", (1, 0))
    step("delete from repos where name = 'repo-004'", (1, 0))
    step("update repos set lifecycle = 'creating' where name = 'repo-005'", (1, 0))
    step("update repos set metadata = '{\"k\": 2}' where org_id is not null", (0, 0))  # every row
    for sql, run, bumps in steps:
        before = await state()
        async with catalog.engine.begin() as conn:
            await run(conn)
        after = await state()
        assert (after[one][0] - before[one][0], after[two][0] - before[two][0]) == bumps, sql
        assert all(version_count[1] == version_count[2] for version_count in after.values()), sql


# ----------------------------------------------------------------------------------------- the migration


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database(request.param, request, tmp_path)


async def test_the_migration_goes_down_to_0004s_triggers_and_up_again(empty_database: str) -> None:
    engine = make_engine(empty_database)
    postgres = engine.dialect.name == "postgresql"
    triggers = (
        "select tgname, pg_get_triggerdef(oid) from pg_trigger where not tgisinternal union all"
        " select proname, prosrc from pg_proc where proname like 'arraylake%' order by 1"
        if postgres
        else "select name, sql from sqlite_master where type = 'trigger' order by name"
    )

    def migrate(to: str, down: bool = False) -> Callable[[Any], None]:
        def run(connection: Any) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(cfg, to)

        return run

    async def schema() -> tuple[list[Any], list[str]]:
        async with engine.connect() as conn:
            found = [tuple(r) for r in await conn.execute(text(triggers))]
            columns = await conn.run_sync(lambda c: [col["name"] for col in inspect(c).get_columns("orgs")])
        return found, columns

    async def sql(statement: str) -> list[Any]:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement))
            return [tuple(r) for r in result] if result.returns_rows else []

    try:
        async with engine.begin() as conn:
            await conn.run_sync(migrate("0005"))
        at_0005 = await schema()
        assert "repo_list_version" not in at_0005[1] and len(at_0005[0]) == (2 if postgres else 3)
        await upgrade(engine)
        at_head = await schema()
        assert "repo_list_version" in at_head[1] and at_head[0] != at_0005[0]
        assert head_revision() >= "0006"

        await sql(f"insert into orgs (id, name, display_name, created) values ('o1', 'o1', '', '{NOW}')")
        await sql(
            "insert into repos (id, org_id, name, live_name, lifecycle, kind, prefix, visibility,"
            " status_mode, status_initiated_by, created, updated, retain_data) values ('r1', 'o1', 'a', 'a',"
            f" 'active', 'icechunk', 'a', 'PRIVATE', 'online', '{{}}', '{NOW}', '{NOW}', false)"
        )
        assert await sql("select active_repos, repo_list_version from orgs") == [(1, 1)]

        async with engine.begin() as conn:
            await conn.run_sync(migrate("0005", down=True))
        assert await schema() == at_0005  # 0004's triggers exactly, and no version
        await sql("update repos set lifecycle = 'ghost'")
        assert await sql("select active_repos from orgs") == [(0,)]

        await upgrade(engine)
        assert await schema() == at_head
        await sql("update repos set lifecycle = 'active'")
        assert await sql("select active_repos, repo_list_version from orgs") == [(1, 1)]
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------ through the service


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_pages_of_two_processes_agree_through_every_change(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """One process pages from anchors (spacing 8), the other by OFFSET (150 repos are shallow for the
    default spacing); every change made through the second shows in the first's next page."""
    first = make_service(tmp_path, backend, request, {"ARRAYLAKE_SERVER_PAGE_ANCHOR_SPACING": str(SPACING)})
    second = ArraylakeService(tmp_path, first.database_url)
    second.log_path = tmp_path / "second.log"
    org = first.new_org()

    async def fill() -> None:
        engine = make_engine(first.settings.resolved_database_url)
        try:
            async with engine.begin() as conn:
                org_id = (await conn.execute(select(orgs.c.id).where(orgs.c.name == org.name))).scalar_one()
                bucket = (
                    await conn.execute(select(buckets.c.id).where(buckets.c.org_id == org_id))
                ).scalar_one()
                await conn.execute(insert(repos), [row(org_id, bucket, f"r{i:03d}") for i in range(1, 150)])
        finally:
            await engine.dispose()

    asyncio.run(fill())
    first.start()
    second.start()
    headers = {"authorization": f"Bearer {org.token}"}
    try:
        with (
            httpx.Client(base_url=first.url, headers=headers) as anchored,
            httpx.Client(base_url=second.url, headers=headers) as plain,
        ):

            def agree() -> None:
                pages = 1
                number = 1
                while number <= pages + 1:
                    path = f"/orgs/{org.name}/repos/paginated?page={number}&size=7"
                    expected = plain.get(path)
                    assert expected.status_code == 200
                    assert anchored.get(path).json() == expected.json(), path
                    pages = expected.json()["pages"]
                    number += 1

            agree()
            repo = f"/orgs/{org.name}"
            for method, path, status in [
                ("POST", f"{repo}/repos", 201),  # a new first repo
                ("DELETE", f"{repo}/r050", 204),  # soft: a ghost
                ("POST", f"{repo}/r050/restore", 200),
                ("DELETE", f"{repo}/r060?immediate=true", 204),
                ("DELETE", f"{repo}/r070?immediate=true&retain_data=true", 204),
            ]:
                body = b'{"name": "a000"}' if path.endswith("/repos") else None
                assert plain.request(method, path, content=body).status_code == status, path
                agree()
    finally:
        second.stop()
        first.stop()
    # the first walk's rebuild, then more after changes (as often as the quiet interval allows)
    assert first.log_text().count("page anchors rebuilt") >= 2
    assert "page anchors rebuilt" not in second.log_text()
