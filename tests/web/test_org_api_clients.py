"""Org settings page of API clients: a token is shown once, in the answer to the form that made it."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support.service import ArraylakeService, Org
from tests.support.web import WebUser, web_user

TOKEN = re.compile(r"ema_[A-Za-z0-9_-]{43}")


def api(org: Org, method: str, path: str, token: str | None = None, **kwargs: object) -> httpx.Response:
    headers = {"authorization": f"Bearer {token or org.token}"}
    return httpx.request(method, org.url + path, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]


def clients(org: Org) -> list[dict[str, object]]:
    response = api(org, "GET", f"/orgs/{org.name}/api-clients")
    assert response.status_code == 200, response.text
    return response.json()


def state(org: Org) -> list[object]:
    """The org's clients and tokens, without when each token was last used (any call may touch it)."""
    return [
        {**c, "tokens": [{k: v for k, v in t.items() if k != "last_used_at"} for t in c["tokens"]]}  # type: ignore[attr-defined]
        for c in clients(org)
    ]


def shown_token(page: httpx.Response) -> str:
    """The one token the page shows, in its secret box."""
    found = TOKEN.findall(page.text)
    assert len(found) == 1, found
    box = page.text.split('id="new-token-value"', 1)[1].split("</output>", 1)[0]
    assert found[0] in box and "it will not be shown again" in page.text
    return found[0]


def create_client(admin: WebUser, org: Org, name: str, **form: object) -> tuple[str, str]:
    """A new API client through the page: its id and its first token."""
    page = admin.post(f"/app/{org.name}/-/api-clients", {"name": name, "role": "repo_reader", **form})
    assert page.status_code == 201, page.text
    assert page.headers["cache-control"] == "no-store" and "location" not in page.headers
    token = shown_token(page)
    (made,) = [c for c in clients(org) if c["name"] == name]
    return str(made["_id"]), token


def last_used(page: httpx.Response, client_id: str) -> str:
    card = page.text.split(f'id="client-{client_id}"', 1)[1].split("</article>", 1)[0]
    return card.split('class="last-used">', 1)[1].split("</td>", 1)[0]


def test_create_a_client_and_use_its_token(service: ArraylakeService, org: Org, admin: WebUser) -> None:
    page = admin.get(f"/app/{org.name}/-/api-clients")
    assert page.status_code == 200 and 'id="create-client"' in page.text and not TOKEN.search(page.text)
    client_id, token = create_client(admin, org, "nightly-ingest", expires_in_days="30")

    made = next(c for c in clients(org) if c["_id"] == client_id)
    assert made["role"] == "repo_reader" and made["tokens"][0]["expires_at"]
    assert last_used(admin.get(f"/app/{org.name}/-/api-clients"), client_id).strip() == "never"
    me = api(org, "GET", f"/orgs/{org.name}", token=token)
    assert me.status_code == 200 and me.json()["name"] == org.name

    listing = admin.get(f"/app/{org.name}/-/api-clients")
    assert token not in listing.text and not TOKEN.search(listing.text)
    card = listing.text.split(f'id="client-{client_id}"', 1)[1].split("</article>", 1)[0]
    assert "nightly-ingest" in card and "repo_reader" in card
    used = last_used(listing, client_id)
    assert "never" not in used and ("just now" in used or "minute" in used)
    assert token not in service.log_text() and token not in service.output_text()


def test_rotate_and_revoke_tokens(service: ArraylakeService, org: Org, admin: WebUser) -> None:
    client_id, first = create_client(admin, org, "rotated")
    page = admin.post(f"/app/{org.name}/-/api-clients/{client_id}/tokens", {"name": "2026-q4"})
    assert page.status_code == 201
    second = shown_token(page)
    assert second != first and "New token for rotated" in page.text
    tokens = next(c for c in clients(org) if c["_id"] == client_id)["tokens"]
    assert [t["name"] for t in tokens] == ["first token", "2026-q4"]

    revoked = admin.post(f"/app/{org.name}/-/api-clients/{client_id}/tokens/{tokens[0]['id']}/revoke")
    assert revoked.status_code == 303 and revoked.headers["location"] == f"/app/{org.name}/-/api-clients"
    page = admin.get(revoked.headers["location"])
    assert "Revoked token" in page.text and first not in page.text and second not in page.text
    assert api(org, "GET", f"/orgs/{org.name}", token=first).status_code == 401
    assert api(org, "GET", f"/orgs/{org.name}", token=second).status_code == 200
    again = admin.post(f"/app/{org.name}/-/api-clients/{client_id}/tokens/{tokens[0]['id']}/revoke")
    assert again.status_code == 404 and "no active token" in again.text
    assert first not in service.log_text() and second not in service.log_text()


def test_revoke_a_client(org: Org, admin: WebUser) -> None:
    client_id, token = create_client(admin, org, "retired")
    unconfirmed = admin.post(f"/app/{org.name}/-/api-clients/{client_id}/revoke")
    assert unconfirmed.status_code == 422 and "I understand" in unconfirmed.text
    assert api(org, "GET", f"/orgs/{org.name}", token=token).status_code == 200

    revoked = admin.post(f"/app/{org.name}/-/api-clients/{client_id}/revoke", {"confirm": "true"})
    assert revoked.status_code == 303
    page = admin.get(revoked.headers["location"])
    assert "Revoked API client retired" in page.text
    card = page.text.split(f'id="client-{client_id}"', 1)[1].split("</article>", 1)[0]
    assert "revoked" in card and f'id="create-token-{client_id}"' not in card
    assert api(org, "GET", f"/orgs/{org.name}", token=token).status_code == 401
    assert next(c for c in clients(org) if c["_id"] == client_id)["disabled_at"]
    refused = admin.post(f"/app/{org.name}/-/api-clients/{client_id}/tokens", {"name": "late"})
    assert refused.status_code == 409 and "has been revoked" in refused.text


def test_bad_input_changes_nothing(org: Org, admin: WebUser) -> None:
    before = state(org)
    for form in (
        {"name": "", "role": "repo_reader"},
        {"name": "   ", "role": "repo_reader"},
        {"name": "x", "role": "owner"},
        {"name": "x", "role": "repo_reader", "expires_in_days": "0"},
        {"name": "x", "role": "repo_reader", "expires_in_days": "soon"},
    ):
        refused = admin.post(f"/app/{org.name}/-/api-clients", form)
        assert refused.status_code == 422, form
        assert not TOKEN.search(refused.text)
    assert admin.post(f"/app/{org.name}/-/api-clients/not-a-client/tokens", {}).status_code == 404
    assert state(org) == before


@pytest.mark.parametrize("role", ["repo_writer", "member"])
def test_others_are_refused(service: ArraylakeService, org: Org, admin: WebUser, role: str) -> None:
    client_id, token = create_client(admin, org, "guarded")
    token_id = next(c for c in clients(org) if c["_id"] == client_id)["tokens"][0]["id"]  # type: ignore[index]
    other = web_user(service, org.name, role, role)
    try:
        page = other.get(f"/app/{org.name}/-/api-clients")
        assert page.status_code == 403 and "guarded" not in page.text
        before = state(org)
        for path, data in (
            (f"/app/{org.name}/-/api-clients", {"name": "sneaky", "role": "admin"}),
            (f"/app/{org.name}/-/api-clients/{client_id}/tokens", {"name": "mine"}),
            (f"/app/{org.name}/-/api-clients/{client_id}/tokens/{token_id}/revoke", {}),
            (f"/app/{org.name}/-/api-clients/{client_id}/revoke", {"confirm": "true"}),
        ):
            refused = other.post(path, data)
            assert refused.status_code == 403 and not TOKEN.search(refused.text), path
    finally:
        other.close()
    forged = admin.http.post(f"/app/{org.name}/-/api-clients", data={"name": "forged", "csrf": "nope"})
    assert forged.status_code == 403 and not TOKEN.search(forged.text)
    assert state(org) == before
    assert api(org, "GET", f"/orgs/{org.name}", token=token).status_code == 200
