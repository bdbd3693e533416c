"""Org settings pages: members and their roles, repo grants; admins only."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.service import ArraylakeService, Org
from tests.support.users import create_user
from tests.support.web import WebUser, web_user


def api(org: Org, method: str, path: str, **kwargs: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {org.token}"}
    return httpx.request(method, org.url + path, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


def roles(org: Org) -> dict[str, str]:
    """Members by principal id, with their roles, as the JSON API tells."""
    response = api(org, "GET", f"/orgs/{org.name}/members")
    assert response.status_code == 200, response.text
    return {m["principal_id"]: m["role"] for m in response.json()}


def new_user(service: ArraylakeService) -> tuple[str, str]:
    email = f"someone-{uuid.uuid4().hex[:8]}@example.com"
    return email, create_user(service, email)


def follow(user: WebUser, response: httpx.Response) -> httpx.Response:
    assert response.status_code == 303, response.text
    return user.get(response.headers["location"])


def test_admin_adds_changes_and_removes_a_member(service: ArraylakeService, org: Org, admin: WebUser) -> None:
    page = admin.get(f"/app/{org.name}/-/members")
    assert page.status_code == 200
    assert 'id="members"' in page.text and admin.email in page.text and 'id="add-member"' in page.text
    email, user_id = new_user(service)
    assert user_id not in roles(org)

    added = admin.post(f"/app/{org.name}/-/members", {"principal": user_id, "role": "repo_reader"})
    assert added.headers["location"] == f"/app/{org.name}/-/members"
    page = follow(admin, added)
    assert f"Added {email} to {org.name} as repo_reader." in page.text
    assert f'id="member-{user_id}"' in page.text
    assert roles(org)[user_id] == "repo_reader"

    changed = admin.post(f"/app/{org.name}/-/members/{user_id}/role", {"role": "repo_writer"})
    assert f"{email} is now repo_writer in {org.name}." in follow(admin, changed).text
    assert roles(org)[user_id] == "repo_writer"

    unconfirmed = admin.post(f"/app/{org.name}/-/members/{user_id}/remove")
    assert unconfirmed.status_code == 422 and "I understand" in unconfirmed.text
    assert roles(org)[user_id] == "repo_writer"
    removed = admin.post(f"/app/{org.name}/-/members/{user_id}/remove", {"confirm": "true"})
    page = follow(admin, removed)
    assert f"Removed {email} from {org.name}." in page.text and f'id="member-{user_id}"' not in page.text
    assert user_id not in roles(org)


def test_an_address_is_invited_and_shown_pending(service: ArraylakeService, org: Org, admin: WebUser) -> None:
    address = f"Newcomer-{uuid.uuid4().hex[:8]}@Example.com"
    added = admin.post(f"/app/{org.name}/-/members", {"principal": address, "role": "member"})
    page = follow(admin, added)
    assert 'id="invitations"' in page.text and address.lower() in page.text
    members = api(org, "GET", f"/orgs/{org.name}/members").json()
    assert [m["role"] for m in members if m["email"] == address.lower()] == ["member"]
    again = admin.post(f"/app/{org.name}/-/members", {"principal": address, "role": "admin"})
    assert again.status_code == 409 and "already a member" in again.text


def test_the_last_admin_stays(org: Org, admin: WebUser) -> None:
    others = [pid for pid, role in roles(org).items() if role == "admin" and pid != admin.principal_id]
    for pid in others:  # leave the signed-in admin alone at the top
        follow(admin, admin.post(f"/app/{org.name}/-/members/{pid}/role", {"role": "repo_reader"}))
    before = roles(org)
    assert [pid for pid, role in before.items() if role == "admin"] == [admin.principal_id]

    removed = admin.post(f"/app/{org.name}/-/members/{admin.principal_id}/remove", {"confirm": "true"})
    assert removed.status_code == 409 and "last admin" in removed.text
    demoted = admin.post(f"/app/{org.name}/-/members/{admin.principal_id}/role", {"role": "member"})
    assert demoted.status_code == 409 and "make someone else admin first" in demoted.text
    assert roles(org) == before


@pytest.mark.parametrize("role", ["owner", "ADMIN", ""])
def test_a_bad_role_changes_nothing(service: ArraylakeService, org: Org, admin: WebUser, role: str) -> None:
    _email, user_id = new_user(service)
    before = roles(org)
    refused = admin.post(f"/app/{org.name}/-/members", {"principal": user_id, "role": role})
    assert refused.status_code == 422 and "role" in refused.text
    assert roles(org) == before
    some_admin = next(pid for pid, r in before.items() if r == "admin")
    refused = admin.post(f"/app/{org.name}/-/members/{some_admin}/role", {"role": role})
    assert refused.status_code == 422 and "role" in refused.text
    assert roles(org) == before


def test_a_bad_principal_is_a_clear_error(org: Org, admin: WebUser) -> None:
    before = roles(org)
    nonsense = admin.post(f"/app/{org.name}/-/members", {"principal": "not an id", "role": "member"})
    assert nonsense.status_code == 422 and "neither an email address nor a principal id" in nonsense.text
    unknown = admin.post(f"/app/{org.name}/-/members", {"principal": str(uuid.uuid4()), "role": "member"})
    assert unknown.status_code == 404
    gone = admin.post(f"/app/{org.name}/-/members/{uuid.uuid4()}/role", {"role": "member"})
    assert gone.status_code == 404 and "is not a member" in gone.text
    assert roles(org) == before


def test_grants_are_added_and_revoked(service: ArraylakeService, org: Org, admin: WebUser) -> None:
    repo = f"granted-{uuid.uuid4().hex[:6]}"
    made = api(org, "POST", f"/orgs/{org.name}/repos", json={"name": repo, "create_mode": "register"})
    assert made.status_code == 201, made.text
    email, user_id = new_user(service)
    page = admin.get(f"/app/{org.name}/-/grants")
    assert page.status_code == 200 and 'id="add-grant"' in page.text and 'id="no-grants"' in page.text

    for action in ("CAN_WRITE", "CAN_READ"):
        granted = admin.post(
            f"/app/{org.name}/-/grants", {"repo": repo, "principal": email, "action": action}
        )
        assert f"Granted {action} on {repo} to {email}." in follow(admin, granted).text
    listed = api(org, "GET", f"/repos/{org.name}/{repo}/grants").json()
    assert [(g["principal_id"], sorted(g["actions"])) for g in listed] == [
        (user_id, ["CAN_READ", "CAN_WRITE"])
    ]
    page = admin.get(f"/app/{org.name}/-/grants")
    row = page.text.split(f'id="grant-{repo}-{user_id}"', 1)[1].split("</tr>", 1)[0]
    assert email in row and "CAN_WRITE" in row and "CAN_READ" in row and admin.email in row

    one = admin.post(f"/app/{org.name}/-/grants/{repo}/{user_id}/revoke", {"action": "CAN_WRITE"})
    assert f"Revoked CAN_WRITE on {repo} from {email}." in follow(admin, one).text
    assert api(org, "GET", f"/repos/{org.name}/{repo}/grants").json()[0]["actions"] == ["CAN_READ"]
    every = admin.post(f"/app/{org.name}/-/grants/{repo}/{user_id}/revoke")
    assert "Revoked all granted actions" in follow(admin, every).text
    assert api(org, "GET", f"/repos/{org.name}/{repo}/grants").json() == []
    again = admin.post(f"/app/{org.name}/-/grants/{repo}/{user_id}/revoke")
    assert again.status_code == 404 and "holds no such grant" in again.text


def test_bad_grants_change_nothing(org: Org, admin: WebUser) -> None:
    repo = f"granted-{uuid.uuid4().hex[:6]}"
    assert api(
        org, "POST", f"/orgs/{org.name}/repos", json={"name": repo, "create_mode": "register"}
    ).is_success
    missing = admin.post(
        f"/app/{org.name}/-/grants",
        {"repo": "no-such-repo", "principal": "x@example.com", "action": "CAN_READ"},
    )
    assert missing.status_code == 404 and "no-such-repo" in missing.text
    bad_action = admin.post(
        f"/app/{org.name}/-/grants", {"repo": repo, "principal": "x@example.com", "action": "CAN_FLY"}
    )
    assert bad_action.status_code == 422 and "action" in bad_action.text
    assert api(org, "GET", f"/repos/{org.name}/{repo}/grants").json() == []


@pytest.mark.parametrize("role", ["repo_reader", "repo_writer", "member"])
def test_others_are_refused(service: ArraylakeService, org: Org, admin: WebUser, role: str) -> None:
    other = web_user(service, org.name, role, role)
    try:
        catalog = other.get(f"/app/{org.name}")
        assert catalog.status_code == 200 and f"/app/{org.name}/-/members" not in catalog.text
        assert f"/app/{org.name}/-/members" in admin.get(f"/app/{org.name}").text
        for page in ("members", "grants"):
            refused = other.get(f"/app/{org.name}/-/{page}")
            assert refused.status_code == 403 and 'id="members"' not in refused.text
        before = roles(org)
        posts = [
            (f"/app/{org.name}/-/members", {"principal": other.principal_id, "role": "admin"}),
            (f"/app/{org.name}/-/members/{other.principal_id}/role", {"role": "admin"}),
            (f"/app/{org.name}/-/members/{admin.principal_id}/remove", {"confirm": "true"}),
            (f"/app/{org.name}/-/grants", {"repo": "r1", "principal": other.email, "action": "CAN_WRITE"}),
        ]
        for path, data in posts:
            assert other.post(path, data).status_code == 403, path
        assert roles(org) == before
    finally:
        other.close()


def test_outsiders_get_not_found(service: ArraylakeService, org: Org) -> None:
    outsider = web_user(service, None, name="outsider")
    try:
        for page in ("members", "grants"):
            response = outsider.get(f"/app/{org.name}/-/{page}")
            assert response.status_code == 404 and f"org {org.name} not found" in response.text
        refused = outsider.post(
            f"/app/{org.name}/-/members", {"principal": outsider.principal_id, "role": "admin"}
        )
        assert refused.status_code == 404
        assert outsider.principal_id not in roles(org)
    finally:
        outsider.close()


def test_a_post_without_its_csrf_token_changes_nothing(
    service: ArraylakeService, org: Org, admin: WebUser
) -> None:
    _email, user_id = new_user(service)
    admin.get(f"/app/{org.name}/-/members")
    for token in ("forged", ""):
        refused = admin.http.post(
            f"/app/{org.name}/-/members", data={"principal": user_id, "role": "admin", "csrf": token}
        )
        assert refused.status_code == 403 and "did not come from this site" in refused.text
    bare = admin.http.post(f"/app/{org.name}/-/members/{admin.principal_id}/role", data={"role": "member"})
    assert bare.status_code == 403
    current = roles(org)
    assert user_id not in current and current[admin.principal_id] == "admin"
