"""The deleted repos page: what was deleted, by whom, until when it can be restored; restore."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx

from arraylake import Client
from tests.support.service import ArraylakeService, Org
from tests.support.web import WebUser, web_user


def _api(org: Org) -> httpx.Client:
    return httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=60)


def _deleted_repo(org: Org, *, retain_data: bool = False) -> str:
    """A new repo of ``org``, soft-deleted through the API."""
    name = f"gone-{uuid.uuid4().hex[:8]}"
    Client(service_uri=org.url, token=org.token).create_repo(f"{org.name}/{name}", description="was here")
    with _api(org) as api:
        deleted = api.delete(
            f"/orgs/{org.name}/{name}",
            params={"immediate": "false", "retain_data": "true" if retain_data else "false"},
        )
    assert deleted.status_code == 204, deleted.text
    return name


def _ghost(org: Org, name: str) -> dict[str, object] | None:
    with _api(org) as api:
        listed = api.get(f"/orgs/{org.name}/repos/paginated", params={"include_ghosts": "true"}).json()
    return next((item for item in listed["items"] if item["name"] == name and item["deleted_at"]), None)


def test_the_deleted_list_shows_who_when_and_the_purge_date(admin: WebUser, org: Org) -> None:
    empty = admin.get(f"/app/{org.name}/-/deleted")
    assert empty.status_code == 200 and 'id="no-deleted"' in empty.text
    name = _deleted_repo(org)
    kept = _deleted_repo(org, retain_data=True)
    ghost = _ghost(org, name)
    assert ghost is not None

    page = admin.get(f"/app/{org.name}/-/deleted")
    assert page.status_code == 200 and 'id="deleted-repos"' in page.text
    assert 'aria-current="page">Deleted repos' in page.text
    row = page.text.split(f'id="deleted-{name}"', 1)[1].split("</tr>", 1)[0]
    purge = datetime.fromisoformat(str(ghost["restorable_until"]))
    deleted_at = datetime.fromisoformat(str(ghost["deleted_at"]))
    assert purge.strftime("%Y-%m-%d %H:%M UTC") in row
    assert deleted_at.strftime("%Y-%m-%d %H:%M UTC") in row
    assert "in 6 days" in row or "in 7 days" in row, row
    assert "removed at the purge" in row and f'id="restore-{name}"' in row
    kept_row = page.text.split(f'id="deleted-{kept}"', 1)[1].split("</tr>", 1)[0]
    assert "kept in the bucket" in kept_row
    # deleted through the API with the org's token: by the org's admin principal, whose email is shown
    with _api(org) as api:
        me = api.get("/user").json()
    assert me["email"] in row


def test_restore_brings_the_repo_back(admin: WebUser, org: Org) -> None:
    name = _deleted_repo(org)
    with _api(org) as api:
        assert api.get(f"/repos/{org.name}/{name}").status_code == 404
    restored = admin.post(f"/app/{org.name}/-/deleted/{name}/restore")
    assert restored.status_code == 303 and restored.headers["location"] == f"/app/{org.name}/{name}"
    with _api(org) as api:
        found = api.get(f"/repos/{org.name}/{name}")
    assert found.status_code == 200 and found.json()["description"] == "was here"
    assert _ghost(org, name) is None
    page = admin.get(f"/app/{org.name}/-/deleted")
    assert f'id="deleted-{name}"' not in page.text and f"Restored repo {org.name}/{name}." in page.text

    again = admin.post(f"/app/{org.name}/-/deleted/{name}/restore")
    assert again.status_code == 409 and "nothing to restore" in again.text
    never = admin.post(f"/app/{org.name}/-/deleted/never-was/restore")
    assert never.status_code == 404 and "no deleted repo" in never.text


def test_restore_is_for_those_who_manage_the_repo(service: ArraylakeService, org: Org) -> None:
    name = _deleted_repo(org)
    writer = web_user(service, org.name, "repo_writer", "writer")
    member = web_user(service, org.name, "member", "member")
    try:
        page = writer.get(f"/app/{org.name}/-/deleted")
        assert page.status_code == 200 and f'id="deleted-{name}"' in page.text
        assert f'id="restore-{name}"' not in page.text
        refused = writer.post(f"/app/{org.name}/-/deleted/{name}/restore")
        assert refused.status_code == 403 and 'id="error-detail"' in refused.text

        assert member.get(f"/app/{org.name}/-/deleted").status_code == 403
        assert member.post(f"/app/{org.name}/-/deleted/{name}/restore").status_code in (403, 404)
    finally:
        writer.close()
        member.close()
    assert _ghost(org, name) is not None


def test_an_outsider_finds_nothing(service: ArraylakeService, org: Org) -> None:
    name = _deleted_repo(org)
    outsider = web_user(service, None, name="outsider")
    try:
        page = outsider.get(f"/app/{org.name}/-/deleted")
        assert page.status_code == 404 and name not in page.text
        assert outsider.post(f"/app/{org.name}/-/deleted/{name}/restore").status_code == 404
    finally:
        outsider.close()
    assert _ghost(org, name) is not None


def test_restore_without_the_csrf_token_is_refused(admin: WebUser, org: Org) -> None:
    name = _deleted_repo(org)
    admin.get(f"/app/{org.name}/-/deleted")
    refused = admin.http.post(f"/app/{org.name}/-/deleted/{name}/restore", data={"csrf": "forged"})
    assert refused.status_code == 403 and "did not come from this site" in refused.text
    assert _ghost(org, name) is not None
