"""Discovery under ``/{org}/_meta/discovery``: the repos a caller may read, a repo's branches and tags, and
the groups at a ref that are datasets."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from arraylake import Client
from arraylake.types.compute import ServiceType
from arraylake.types.orgs import OrgRole
from tests.dataplane.frontdoor import NESTED_GROUP, Published, api_token, data_plane, publish
from tests.support.service import ArraylakeService

pytestmark = pytest.mark.parametrize("service", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def published(service: ArraylakeService) -> Published:
    published = publish(service)
    publish(service, "second", org=published.org)
    published.repo.create_branch("dev", published.snapshot)
    return published


@pytest.fixture(scope="module")
def meta(published: Published) -> Iterator[str]:
    with data_plane(published, ServiceType.ZARR) as url:
        yield f"{url}/{published.org.name}/_meta/discovery"


@pytest.fixture(scope="module")
def auth(published: Published) -> tuple[str, str]:
    return (published.org.name, published.org.token)


def test_repos_the_caller_may_read(meta: str, auth: tuple[str, str], published: Published) -> None:
    response = httpx.get(meta, auth=auth)
    assert response.status_code == 200
    assert response.json() == ["cf", "second"]


def test_a_member_granted_one_repo_sees_that_repo(meta: str, published: Published) -> None:
    member = api_token(published, OrgRole.MEMBER)
    assert httpx.get(meta, auth=(published.org.name, member)).json() == []
    admin = Client(published.service.url, token=published.org.token)
    client_id = admin.get_api_client_id_from_token(published.org.name, member)
    admin.grant_repo_access(f"{published.org.name}/second", client_id, ["CAN_READ"])
    assert httpx.get(meta, auth=(published.org.name, member)).json() == ["second"]


def test_branches_and_tags(meta: str, auth: tuple[str, str]) -> None:
    response = httpx.get(f"{meta}/cf", auth=auth)
    assert response.status_code == 200
    assert response.json() == {"branches": ["dev", "main"], "tags": ["v1"]}


def test_dataset_groups_at_a_ref(meta: str, auth: tuple[str, str], published: Published) -> None:
    for ref in ("main", published.tag, published.snapshot):
        response = httpx.get(f"{meta}/cf/{ref}", auth=auth)
        assert response.status_code == 200
        assert response.json() == ["", NESTED_GROUP]
    scoped = httpx.get(f"{meta}/cf/main", params={"group": "regional"}, auth=auth)
    assert scoped.json() == [NESTED_GROUP]


def test_discovery_refuses_what_data_urls_refuse(meta: str, auth: tuple[str, str]) -> None:
    assert httpx.get(meta).status_code == 401
    assert httpx.get(f"{meta}/no-such-repo", auth=auth).status_code == 404
    missing_ref = httpx.get(f"{meta}/cf/nope", auth=auth)
    assert missing_ref.status_code == 404 and "nope" in missing_ref.json()["detail"]
    missing_group = httpx.get(f"{meta}/cf/main", params={"group": "no/such"}, auth=auth)
    assert missing_group.status_code == 404
    other_org = httpx.get(meta.replace("/_meta/", "x/_meta/", 1), auth=auth)
    assert other_org.status_code == 404
