"""The org's audit log page: entries as the API has them, filters and paging, the JSON lines export, the
chain's verification (and a tampered entry named), and nobody but the org's admins."""

from __future__ import annotations

import html
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.service import ArraylakeService, Org, run_coroutine
from tests.support.users import PASSWORD
from tests.support.web import WebUser, web_user

ROW = re.compile(r'<tr id="entry-(\d+)">')
OLDER = re.compile(r'<a href="([^"]*)" id="older-entries">')


@dataclass
class World:
    org: Org
    repos: list[str]
    people: dict[str, WebUser]

    @property
    def page(self) -> str:
        return f"/app/{self.org.name}/-/audit"

    def api_seqs(self, **params: str) -> list[int]:
        """The seqs of the org's entries the API lists with these filters, newest first, every page."""
        seqs: list[int] = []
        cursor: str | None = None
        while True:
            response = httpx.get(
                f"{self.org.url}/orgs/{self.org.name}/audit/entries",
                params={**params, "limit": "1000", **({"cursor": cursor} if cursor else {})},
                headers={"authorization": f"Bearer {self.org.token}"},
                timeout=60,
            )
            assert response.status_code == 200, response.text
            seqs += [entry["seq"] for entry in response.json()["items"]]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return seqs


def create_repo(org: Org, name: str) -> None:
    made = httpx.post(
        f"{org.url}/orgs/{org.name}/repos",
        json={"name": name, "create_mode": "register"},
        headers={"authorization": f"Bearer {org.token}"},
        timeout=60,
    )
    assert made.status_code == 201, made.text


@pytest.fixture(scope="module")
def world(service: ArraylakeService) -> Iterator[World]:
    org = service.new_org("audited")
    repos = [f"logged-{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for name in repos:
        create_repo(org, name)
    roles = {"admin": "admin", "writer": "repo_writer", "member": "member"}
    people = {person: web_user(service, org.name, role, person) for person, role in roles.items()}
    yield World(org, repos, people)
    for person in people.values():
        person.close()


def seqs(page: httpx.Response) -> list[int]:
    assert page.status_code == 200, page.text
    return [int(seq) for seq in ROW.findall(page.text)]


def test_the_page_lists_the_orgs_entries_as_the_api_does(world: World) -> None:
    page = world.people["admin"].get(world.page)
    assert 'id="audit-entries"' in page.text and 'id="chain-status"' in page.text
    assert f'href="{world.page}" aria-current="page"' in page.text  # the side nav marks it
    assert seqs(page) == world.api_seqs()[:50]
    assert "repo.create" in page.text and all(name in page.text for name in world.repos)


@pytest.mark.parametrize(
    "filters",
    [
        {"action": "repo."},
        {"action": "repo.create"},
        {"repo": "REPO"},
        {"principal": "admin@example.com"},
        {"since": "TODAY", "action": "repo."},
        {"until": "TODAY"},
    ],
)
def test_filters_select_what_the_api_selects(world: World, filters: dict[str, str]) -> None:
    today = datetime.now(UTC).date().isoformat()
    values = {k: v.replace("REPO", world.repos[0]).replace("TODAY", today) for k, v in filters.items()}
    shown = seqs(world.people["admin"].get(world.page, params=values))
    api = {k: v for k, v in values.items() if k not in ("since", "until")}
    if "since" in values:
        api["since"] = f"{today}T00:00:00Z"
    if "until" in values:
        api["until"] = f"{today}T23:59:59.999999Z"
    assert shown and shown == world.api_seqs(**api)[:50]


def test_filters_that_match_nothing_and_bad_dates(world: World) -> None:
    admin = world.people["admin"]
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    nothing = admin.get(world.page, params={"since": tomorrow})
    assert 'id="no-entries"' in nothing.text and seqs(nothing) == []
    bad = admin.get(world.page, params={"since": "last tuesday"})
    assert bad.status_code == 422 and "is not a date" in bad.text
    backwards = admin.get(world.page, params={"since": tomorrow, "until": "2020-01-01"})
    assert backwards.status_code == 422 and "is after until" in backwards.text
    assert admin.get(world.page, params={"cursor": "garbage"}).status_code == 422


def test_paging_walks_every_entry_once(world: World) -> None:
    admin = world.people["admin"]
    expected = world.api_seqs(action="repo.")
    assert len(expected) >= 3
    walked: list[int] = []
    page = admin.get(world.page, params={"action": "repo.", "limit": "2"})
    while True:
        found = seqs(page)
        assert 1 <= len(found) <= 2
        walked += found
        older = OLDER.search(page.text)
        if older is None:
            break
        page = admin.get(html.unescape(older.group(1)))
    assert walked == expected


def test_export_streams_the_filtered_entries_as_json_lines(world: World) -> None:
    admin = world.people["admin"]
    page = admin.get(world.page, params={"action": "repo."})
    link = re.search(r'<a href="([^"]*)" id="export-link"', page.text)
    assert link is not None
    export = admin.get(html.unescape(link.group(1)))
    assert export.status_code == 200
    assert export.headers["content-type"] == "application/x-ndjson"
    assert export.headers["content-disposition"].startswith("attachment;")
    entries = [json.loads(line) for line in export.text.splitlines()]
    assert [entry["seq"] for entry in entries] == world.api_seqs(action="repo.")
    assert all(entry["action"].startswith("repo.") and entry["org"] == world.org.name for entry in entries)
    everything = admin.get(f"{world.page}/export").text
    assert world.org.token not in everything and PASSWORD not in everything
    assert admin.get(f"{world.page}/export", params={"until": "soon"}).status_code == 422


def test_the_chain_is_verified(world: World) -> None:
    admin = world.people["admin"]
    fragment = admin.get(f"{world.page}/verify", headers={"hx-request": "true"})
    assert fragment.status_code == 200 and 'id="chain-verified"' in fragment.text
    assert "<html" not in fragment.text and "Verified:" in fragment.text
    page = admin.get(f"{world.page}/verify")
    assert "<html" in page.text and 'id="chain-verified"' in page.text


def test_only_the_orgs_admins_read_it(world: World, service: ArraylakeService) -> None:
    for person in ("writer", "member"):
        user = world.people[person]
        for path in (world.page, f"{world.page}/export", f"{world.page}/verify"):
            assert user.get(path).status_code == 403, (person, path)
        assert f'href="{world.page}"' not in user.get(f"/app/{world.org.name}").text
    stranger = web_user(service, service.new_org("other").name, "admin", "stranger")
    try:
        assert stranger.get(world.page).status_code == 404
        assert stranger.get(f"{world.page}/export").status_code == 404
    finally:
        stranger.close()


def _tamper(service: ArraylakeService, statement: str, **params: Any) -> None:
    async def run() -> None:
        engine = create_async_engine(service.settings.resolved_database_url)
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)
        await engine.dispose()

    run_coroutine(run())


def test_a_changed_entry_is_named(fresh_service: ArraylakeService) -> None:
    fresh_service.start()
    org = fresh_service.new_org("tampered")
    create_repo(org, "victim")
    admin = web_user(fresh_service, org.name, "admin", "admin")
    try:
        assert 'id="chain-verified"' in admin.get(f"/app/{org.name}/-/audit/verify").text
        seq = next(
            e["seq"]
            for e in httpx.get(
                f"{org.url}/orgs/{org.name}/audit/entries",
                headers={"authorization": f"Bearer {org.token}"},
                timeout=60,
            ).json()["items"]
            if e["action"] == "repo.create"
        )
        _tamper(fresh_service, "UPDATE audit_log SET repo = 'innocent' WHERE seq = :seq", seq=seq)
        page = admin.get(f"/app/{org.name}/-/audit/verify")
        assert 'id="chain-broken"' in page.text
        assert f"broken at entry {seq}: entry {seq} was changed" in page.text
    finally:
        admin.close()
