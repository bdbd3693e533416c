"""Hostile input: deep JSON nesting, odd unicode and path traversal in names get a 4xx and change nothing."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.support.service import Org

ODD_NAMES = [
    "..",
    "%2e%2e",
    "a/../b",
    "café",  # non-ASCII
    "r\u202eepo",  # right-to-left override
    "repo\u200b",  # zero-width space
    "\uff52\uff45\uff50\uff4f",  # fullwidth letters
    "repo\x00x",
    "-leading-dash",
    "x" * 300,
]
# A prefix segment may start with a dash (a name may not).
ODD_PREFIXES = [name for name in ODD_NAMES if name != "-leading-dash"]


def snapshot(http: httpx.Client, org: Org) -> tuple:
    repos = http.get(f"/orgs/{org.name}/repos").json()
    buckets = http.get(f"/orgs/{org.name}/buckets").json()
    return repos, buckets


@pytest.fixture
def http(org: Org) -> httpx.Client:
    return httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=30)


def test_deeply_nested_json(http: httpx.Client, org: Org) -> None:
    before = snapshot(http, org)
    body = '{"name": "deep", "metadata": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}"
    for payload in (body, "[" * 100_000 + "]" * 100_000):
        response = http.post(
            f"/orgs/{org.name}/repos", content=payload, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, response.text[:200]
        assert "detail" in response.json()
    assert snapshot(http, org) == before


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_repo_names(http: httpx.Client, org: Org, name: str) -> None:
    before = snapshot(http, org)
    created = http.post(f"/orgs/{org.name}/repos", json={"name": name, "create_mode": "create"})
    assert created.status_code == 422, created.text
    fetched = http.get(f"/repos/{org.name}/{quote(name, safe='')}")
    assert 400 <= fetched.status_code < 500
    assert snapshot(http, org) == before


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_bucket_names(http: httpx.Client, org: Org, name: str) -> None:
    before = snapshot(http, org)
    answer = http.post(
        f"/orgs/{org.name}/buckets", json={"nickname": "odd", "platform": "local", "name": name}
    )
    assert answer.status_code == 422, answer.text
    assert snapshot(http, org) == before


@pytest.mark.parametrize("prefix", ODD_PREFIXES)
def test_odd_prefixes(http: httpx.Client, org: Org, prefix: str) -> None:
    before = snapshot(http, org)
    bucket = {"nickname": "odd", "platform": "local", "name": "ok-dir", "prefix": prefix}
    assert http.post(f"/orgs/{org.name}/buckets", json=bucket).status_code == 422
    repo = http.post(f"/orgs/{org.name}/repos", json={"name": "odd", "prefix": prefix})
    assert repo.status_code == 422, repo.text
    assert snapshot(http, org) == before
