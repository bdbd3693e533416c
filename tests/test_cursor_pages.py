"""Paging an org's repos by cursor (``after``): every repo exactly once, in name order, whatever the depth;
the total stays exact, and filters and grant-limited views apply as with page numbers."""

from __future__ import annotations

from arraylake import Client
from arraylake.types import OrgRole, RepoActions
from tests.support.service import Org

NAMES = [f"r{i:02d}" for i in range(7)]


def walk(client: Client, org: str, size: int, **filters: object) -> tuple[list[str], set[int]]:
    seen: list[str] = []
    totals: set[int] = set()
    after = None
    while True:
        page = client.list_repos_paginated(org, page_size=size, after=after, **filters)  # type: ignore[arg-type]
        assert page.page == (1 if after is None else 0) and page.size == size
        totals.add(page.total)
        if not page.items:
            return seen, totals
        seen += [repo.name for repo in page.items]
        after = page.items[-1].name


def test_cursor_pages_visit_every_repo_once(org: Org) -> None:
    client = Client(org.url, token=org.token)
    for name in reversed(NAMES):
        client.create_repo(f"{org.name}/{name}", metadata={"even": int(name[1:]) % 2 == 0})
    seen, totals = walk(client, org.name, 3)
    assert seen == NAMES and totals == {7}
    evens, even_totals = walk(client, org.name, 2, filter_metadata={"even": True})
    assert evens == ["r00", "r02", "r04", "r06"] and even_totals == {4}
    # the same pages as by number
    by_number = [
        r.name for p in (1, 2, 3) for r in client.list_repos_paginated(org.name, page=p, page_size=3).items
    ]
    assert by_number == NAMES

    # a member sees only the repos granted to it, by cursor too
    member = client.create_api_client(org.name, "member", role=OrgRole.MEMBER)
    for name in ("r01", "r05"):
        client.grant_repo_access(f"{org.name}/{name}", str(member.client.id), [RepoActions.CAN_READ])
    limited = Client(org.url, token=member.token.token.get_secret_value())
    granted, granted_totals = walk(limited, org.name, 1)
    assert granted == ["r01", "r05"] and granted_totals == {2}
