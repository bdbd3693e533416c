"""The catalog page of an org: search, filters, sort orders, cursor pages, htmx fragments, who sees what."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from arraylake.server.db.schema import metadata as schema
from arraylake.server.db.schema import orgs, repos
from arraylake.server.identity.principals import OrgScope
from arraylake.server.repos.search import RepoSearch, Sort, search_repos, search_statement
from arraylake.types import utcnow
from tests.support.service import ArraylakeService, Org, run_coroutine
from tests.support.web import WebUser, web_user

_ROW = re.compile(r'<tr id="repo-([^"]+)">')
_NEXT = re.compile(r'id="next-page" href="([^"]+)"')
_FIRST = re.compile(r'id="first-page" href="([^"]+)"')

FILLERS = [f"filler-{i:02d}" for i in range(22)]
SPECIAL: dict[str, dict[str, Any]] = {
    "alpha-ocean": {"description": "Sea surface temperature", "metadata": {"project": "era5", "year": 2020}},
    "beta-land": {"description": "Soil moisture", "metadata": {"project": "cmip6", "tags": ["wet", "dry"]}},
    "gamma-legacy": {"description": "Legacy store 100 percent", "kind": "v1"},
}


@dataclass
class Catalog:
    """An org of 25 repos (3 with something to find, 22 fillers) and its admin, signed in."""

    org: Org
    admin: WebUser
    names: list[str] = field(default_factory=list)
    updated: dict[str, tuple[datetime, str]] = field(
        default_factory=dict
    )  # name -> (updated, id), from the API

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.org.url, headers={"authorization": f"Bearer {self.org.token}"}, timeout=60
        )


@pytest.fixture(scope="module")
def catalog(service: ArraylakeService) -> Iterator[Catalog]:
    org = service.new_org()
    admin = web_user(service, org.name, "admin", "catalog-admin")
    found = Catalog(org, admin)
    with found.api() as api:
        for name in [*SPECIAL, *FILLERS]:
            body = {"name": name, **SPECIAL.get(name, {})}
            created = api.post(f"/orgs/{org.name}/repos", json=body)
            assert created.status_code == 201, created.text
        for name, mode in (("beta-land", "maintenance"), ("gamma-legacy", "offline")):
            changed = api.put(f"/orgs/{org.name}/{name}/status", json={"mode": mode, "message": "work"})
            assert changed.status_code == 200, changed.text
        # The latest change of all: first when sorted by recent update.
        touched = api.patch(f"/orgs/{org.name}/filler-05", json={"description": "touched last"})
        assert touched.status_code == 200, touched.text
        listed = api.get(f"/orgs/{org.name}/repos")
        assert listed.status_code == 200
        found.names = sorted(repo["name"] for repo in listed.json())
        found.updated = {
            repo["name"]: (datetime.fromisoformat(repo["updated"]), repo["_id"]) for repo in listed.json()
        }
    assert len(found.names) == 25
    yield found
    admin.close()


def names_on(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return _ROW.findall(response.text)


def all_pages(user: WebUser, url: str) -> tuple[list[str], int]:
    """Follow the "Next page" links from ``url``: every name in order, and how many pages there were."""
    seen: list[str] = []
    pages = 0
    while url:
        response = user.get(url)
        seen += names_on(response)
        pages += 1
        assert pages < 20, "the pages never end"
        if pages > 1:
            assert _FIRST.search(response.text), "a later page links back to the first"
        link = _NEXT.search(response.text)
        url = html.unescape(link.group(1)) if link else ""
    return seen, pages


# ------------------------------------------------------------------------------------------------ page


def test_the_whole_page_lists_the_repos_with_their_columns(catalog: Catalog) -> None:
    org = catalog.org.name
    page = catalog.admin.get(f"/app/{org}")
    assert page.status_code == 200 and "<html" in page.text
    assert names_on(page) == catalog.names
    assert 'id="catalog-search"' in page.text and 'hx-target="#results"' in page.text
    assert 'hx-push-url="true"' in page.text and 'id="results"' in page.text
    assert re.search(r'id="catalog-count">\s*25 repos', page.text)
    row = re.search(r'<tr id="repo-alpha-ocean">(.*?)</tr>', page.text, re.S)
    assert row is not None
    cells = row.group(1)
    assert f'href="/app/{org}/alpha-ocean"' in cells and "Sea surface temperature" in cells
    assert "icechunk" in cells and 'class="badge online">online<' in cells
    assert "project=era5" in cells and "year=2020" in cells
    assert 'none has run yet">—<' in cells  # no maintenance run has measured it
    assert re.search(
        r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d UTC">(just now|\d+ minutes? ago)<', cells
    )
    legacy = re.search(r'<tr id="repo-gamma-legacy">(.*?)</tr>', page.text, re.S)
    assert legacy and ">v1<" in legacy.group(1) and 'class="badge offline">offline<' in legacy.group(1)
    assert 'id="new-repo"' in page.text and f'href="/app/{org}/-/new"' in page.text
    assert re.search(r'<th scope="col"[^>]*>Size</th>', page.text)
    assert not _NEXT.search(page.text) and not _FIRST.search(page.text)


def test_the_size_column_shows_what_maintenance_measured(service: ArraylakeService, catalog: Catalog) -> None:
    org = catalog.org.name

    async def measured() -> None:
        engine = create_async_engine(service.settings.resolved_database_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(
                    update(repos)
                    .where(
                        repos.c.name == "beta-land",
                        repos.c.org_id == select(orgs.c.id).where(orgs.c.name == org).scalar_subquery(),
                    )
                    .values(size_bytes=3 * 1024 * 1024 // 2, size_measured_at=utcnow())
                )
        finally:
            await engine.dispose()

    run_coroutine(measured())
    page = catalog.admin.get(f"/app/{org}", params={"text": "beta"})
    row = re.search(r'<tr id="repo-beta-land">(.*?)</tr>', page.text, re.S)
    assert row is not None
    assert re.search(
        r'title="chunk bytes its branches and tags reach, measured [^"]+ UTC">1.5 MiB<', row.group(1)
    )


def test_htmx_gets_the_results_alone(catalog: Catalog) -> None:
    fragment = catalog.admin.get(f"/app/{catalog.org.name}?q=ocean", headers={"hx-request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="catalog-search"' not in fragment.text
    assert names_on(fragment) == ["alpha-ocean"]
    assert fragment.headers["vary"] == "HX-Request"


# ---------------------------------------------------------------------------------------------- search


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("OCEAN", ["alpha-ocean"]),  # the name, whatever the case
        ("soil MOIST", ["beta-land"]),  # the description
        ("cmip6", ["beta-land"]),  # a metadata value
        ("dry", ["beta-land"]),  # an element of a list value
        ("100 percent", ["gamma-legacy"]),
        ("filler-1", [f"filler-1{i}" for i in range(10)]),
    ],
)
def test_search_by_name_description_and_metadata(catalog: Catalog, q: str, expected: list[str]) -> None:
    assert names_on(catalog.admin.get(f"/app/{catalog.org.name}", params={"q": q})) == expected


def test_a_search_that_finds_nothing_says_so(catalog: Catalog) -> None:
    for q in ("nothing-like-this", "100%", "filler_0"):  # LIKE's wildcards are plain characters
        page = catalog.admin.get(f"/app/{catalog.org.name}", params={"q": q})
        assert names_on(page) == []
        assert 'id="catalog-empty"' in page.text and "No repos match your search" in page.text
        assert "catalog-count" not in page.text, "no count over a search"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "maintenance"}, ["beta-land"]),
        ({"status": "offline"}, ["gamma-legacy"]),
        ({"kind": "v1"}, ["gamma-legacy"]),
        ({"meta": "project:era5"}, ["alpha-ocean"]),
        ({"meta": "year:2020"}, ["alpha-ocean"]),  # a number given as text
        ({"meta": "tags:wet"}, ["beta-land"]),
        ({"meta": ["project:era5", "year:2020"]}, ["alpha-ocean"]),
        ({"meta": ["project:era5", "year:2021"]}, []),
        ({"meta": ["project:cmip6", ""]}, ["beta-land"]),  # the form's blank extra field
        ({"status": "online", "q": "a-"}, ["alpha-ocean"]),
        ({"bucket": "no-such-bucket"}, []),
        ({"status": "", "kind": "", "bucket": ""}, None),  # "Any" of the form's selects: everything
    ],
)
def test_filters(catalog: Catalog, params: dict[str, object], expected: list[str] | None) -> None:
    found = names_on(catalog.admin.get(f"/app/{catalog.org.name}", params=params))  # type: ignore[arg-type]
    assert found == (catalog.names if expected is None else expected)


def test_filter_by_kind_icechunk_and_by_the_bucket(catalog: Catalog) -> None:
    org = catalog.org.name
    icechunk = names_on(catalog.admin.get(f"/app/{org}", params={"kind": "icechunk"}))
    assert icechunk == [name for name in catalog.names if name != "gamma-legacy"]
    with catalog.api() as api:
        nickname = api.get(f"/repos/{org}/alpha-ocean").json()["bucket"]["nickname"]
    assert names_on(catalog.admin.get(f"/app/{org}", params={"bucket": nickname})) == catalog.names
    both = catalog.admin.get(f"/app/{org}", params={"bucket": nickname, "q": "OCEAN"})
    assert names_on(both) == ["alpha-ocean"]


# ------------------------------------------------------------------------------------------ sort, pages


def test_sort_by_name_both_ways_and_by_update(catalog: Catalog) -> None:
    org = catalog.org.name
    assert names_on(catalog.admin.get(f"/app/{org}?sort=name")) == catalog.names
    assert names_on(catalog.admin.get(f"/app/{org}?sort=-name")) == catalog.names[::-1]
    by_update = sorted(catalog.names, key=lambda name: catalog.updated[name])
    assert names_on(catalog.admin.get(f"/app/{org}?sort=updated")) == by_update
    recent = names_on(catalog.admin.get(f"/app/{org}?sort=-updated"))
    assert recent == by_update[::-1] and recent[0] == "filler-05"


@pytest.mark.parametrize("sort", ["name", "-name", "updated", "-updated"])
def test_cursor_pages_list_every_repo_once_in_order(catalog: Catalog, sort: str) -> None:
    seen, pages = all_pages(catalog.admin, f"/app/{catalog.org.name}?sort={sort}&size=10")
    assert pages == 3
    ordered = sorted(catalog.names, key=lambda name: catalog.updated[name] if "updated" in sort else name)
    assert seen == (ordered[::-1] if sort.startswith("-") else ordered)


def test_pages_keep_the_search_and_go_back_to_the_first(catalog: Catalog) -> None:
    org = catalog.org.name
    seen, pages = all_pages(catalog.admin, f"/app/{org}?q=filler&sort=-name&size=4")
    assert seen == sorted(FILLERS, reverse=True) and pages == 6
    second = catalog.admin.get(f"/app/{org}?q=filler&sort=-name&size=4")
    link = _NEXT.search(second.text)
    assert link is not None
    later = catalog.admin.get(html.unescape(link.group(1)), headers={"hx-request": "true"})
    first = _FIRST.search(later.text)
    assert first is not None and "after=" not in first.group(1)
    assert names_on(catalog.admin.get(html.unescape(first.group(1)))) == sorted(FILLERS, reverse=True)[:4]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("after=not-a-cursor!!", "cursor is malformed"),
        ("after=eyJzIjoibmFtZSJ9", "cursor is malformed"),  # JSON without its key
        ("after=e30", "cursor is malformed"),  # {}
        ("size=0", "size"),
        ("size=201", "size"),
        ("sort=size", "sort must be one of"),
        ("status=sleeping", "status must be one of"),
        ("kind=zarr", "kind must be one of"),
        ("meta=no-colon", "meta must be key:value"),
    ],
)
def test_bad_input_is_a_422_page(catalog: Catalog, query: str, words: str) -> None:
    page = catalog.admin.get(f"/app/{catalog.org.name}?{query}")
    assert page.status_code == 422 and words in page.text
    assert "<tr id=" not in page.text


def test_a_cursor_of_another_order_is_refused(catalog: Catalog) -> None:
    first = catalog.admin.get(f"/app/{catalog.org.name}?sort=-updated&size=5")
    link = _NEXT.search(first.text)
    assert link is not None
    cursor = re.search(r"after=([^&]+)", html.unescape(link.group(1)))
    assert cursor is not None
    mixed = catalog.admin.get(f"/app/{catalog.org.name}?sort=name&after={cursor.group(1)}")
    assert mixed.status_code == 422 and "another order" in mixed.text


# ---------------------------------------------------------------------------------------- who sees what


def test_a_member_without_grants_sees_no_repos_and_a_grant_shows_one(
    service: ArraylakeService, catalog: Catalog
) -> None:
    org = catalog.org.name
    member = web_user(service, org, "member", "catalog-member")
    try:
        page = member.get(f"/app/{org}")
        assert names_on(page) == []
        assert "no repos you can see" in page.text and 'id="new-repo"' not in page.text
        assert names_on(member.get(f"/app/{org}?q=ocean")) == []
        with catalog.api() as api:
            granted = api.post(
                f"/repos/{org}/beta-land/grants", json={"principal": member.email, "actions": ["CAN_READ"]}
            )
            assert granted.status_code == 200, granted.text
        assert names_on(member.get(f"/app/{org}")) == ["beta-land"]
        assert names_on(member.get(f"/app/{org}?q=a")) == ["beta-land"]
        assert names_on(member.get(f"/app/{org}?q=ocean")) == []
        assert "catalog-count" in member.get(f"/app/{org}").text
    finally:
        member.close()


def test_a_reader_sees_every_repo_but_no_new_repo_button(service: ArraylakeService, catalog: Catalog) -> None:
    reader = web_user(service, catalog.org.name, "repo_reader", "catalog-reader")
    try:
        page = reader.get(f"/app/{catalog.org.name}")
        assert names_on(page) == catalog.names and 'id="new-repo"' not in page.text
        assert f'href="/app/{catalog.org.name}/-/new"' not in page.text
    finally:
        reader.close()


def test_an_outsider_gets_the_policy_s_404(service: ArraylakeService, catalog: Catalog) -> None:
    outsider = web_user(service, None, name="catalog-outsider")
    try:
        page = outsider.get(f"/app/{catalog.org.name}")
        assert page.status_code == 404 and f"org {catalog.org.name} not found" in page.text
        assert "alpha-ocean" not in page.text
    finally:
        outsider.close()


def test_an_org_without_repos_says_so(admin: WebUser, org: Org) -> None:
    page = admin.get(f"/app/{org.name}")
    assert names_on(page) == []
    assert "has no repos yet" in page.text and f'href="/app/{org.name}/-/new"' in page.text


# ------------------------------------------------------------------------------------- the query, deep


async def test_the_query_pages_through_its_indexes_at_any_depth() -> None:
    """Every sort order walks 1,000 repos (many updated at the same moment) in order, each once, and
    reads each page as a range scan of an index in that order (no sort of its own)."""
    engine = create_async_engine("sqlite+aiosqlite://")
    scope = OrgScope("o1", "org1")
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": f"{i * 7919 % 1000:04x}aa",
            "org_id": "o1",
            "name": f"r{i:04d}",
            "live_name": f"r{i:04d}",
            "kind": "icechunk",
            "prefix": f"p{i}",
            "visibility": "PRIVATE",
            "status_mode": "online",
            "status_initiated_by": {},
            "created": now,
            "updated": now + timedelta(seconds=i // 10),  # ten repos share each moment: ids break ties
            "lifecycle": "active" if i % 50 else "ghost",
        }
        for i in range(1000)
    ]
    try:
        async with engine.begin() as conn:
            await conn.run_sync(schema.create_all)
            await conn.execute(
                insert(orgs), [{"id": "o1", "name": "org1", "created": now, "active_repos": 980}]
            )
            await conn.execute(insert(repos), rows)
        active = [row for row in rows if row["lifecycle"] == "active"]
        orders: dict[Sort, list[str]] = {
            "name": [row["name"] for row in active],
            "updated": [row["name"] for row in sorted(active, key=lambda r: (r["updated"], r["id"]))],
        }
        orders["-name"] = orders["name"][::-1]
        orders["-updated"] = orders["updated"][::-1]
        async with engine.connect() as conn:
            for sort, expected in orders.items():
                seen: list[str] = []
                after = None
                while True:
                    query = RepoSearch(sort=sort, after=after, size=97)
                    page = await search_repos(conn, scope, only_names=None, query=query)
                    assert page.total == 980
                    seen += [row.name for row in page.rows]
                    statement = search_statement(scope, None, query).compile(engine.sync_engine)
                    values = statement.construct_params()
                    # The plan does not depend on the values: the moment as text spares the driver's adapter.
                    params = tuple(str(values[k]) for k in statement.positiontup or ())
                    plan = " | ".join(
                        str(step[-1])
                        for step in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
                    )
                    index = "name_id" if "name" in sort else "updated_id"
                    assert f"SEARCH repos USING INDEX ix_repos_org_id_lifecycle_{index}" in plan, plan
                    assert "TEMP B-TREE" not in plan, plan
                    if page.next_cursor is None:
                        break
                    after = page.next_cursor
                assert seen == expected, sort
            some = await search_repos(conn, scope, only_names={"r0001", "r0050", "r0999"}, query=RepoSearch())
            assert [row.name for row in some.rows] == ["r0001", "r0999"] and some.total is None
            none = await search_repos(conn, scope, only_names=set(), query=RepoSearch())
            assert none.rows == [] and none.next_cursor is None
    finally:
        await engine.dispose()
