"""The audit log of identity and access: sign-ins (every path, and refusals), sign-outs, login sessions
revoked, API clients and their tokens, members, orgs and repo grants.

Each action is done through the public API or the web pages, then the catalog's ``audit_log`` is read
directly. No entry may hold a password, token, device code or session cookie used here.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from arraylake import Client
from arraylake.server.audit.record import SERVICE_ACTOR
from arraylake.server.bootstrap import create_user_account
from arraylake.server.db.engine import make_engine
from arraylake.server.db.schema import audit_log
from arraylake.types import OrgRole
from tests.support.oidc_provider import FakeOidcProvider
from tests.support.service import ArraylakeService, Org, run_coroutine
from tests.support.users import PASSWORD, csrf_of, decide, post_login, sign_in
from tests.support.web import WebUser

CLIENT_ID = "arraylake-python"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
INIT_ADMIN = "admin@example.com"  # the admin API client of orgs made by `server init` in the tests


def audit_rows(service: ArraylakeService) -> list[dict[str, Any]]:
    """Every entry of the service's audit log, oldest first."""

    async def read() -> list[dict[str, Any]]:
        engine = make_engine(service.settings.resolved_database_url)
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(select(audit_log).order_by(audit_log.c.seq))
                return [dict(r._mapping) for r in rows]
        finally:
            await engine.dispose()

    return run_coroutine(read())


def found(rows: list[dict[str, Any]], action: str, **fields: Any) -> list[dict[str, Any]]:
    """The entries of ``action`` with these field values (``details``: compared item by item)."""
    details = fields.pop("details", {})
    return [
        r
        for r in rows
        if r["action"] == action
        and all(r[k] == v for k, v in fields.items())
        and all(r["details"].get(k) == v for k, v in details.items())
    ]


def one(rows: list[dict[str, Any]], action: str, **fields: Any) -> dict[str, Any]:
    matches = found(rows, action, **fields)
    assert len(matches) == 1, (action, fields, [r for r in rows if r["action"] == action][-5:])
    return matches[0]


def assert_no_secrets(rows: list[dict[str, Any]], secrets: list[str]) -> None:
    text = json.dumps(rows, default=str)
    for secret in secrets:
        assert secret and secret not in text, "a secret reached the audit log"


def new_user(service: ArraylakeService, org: str | None, role: str = "admin") -> tuple[str, str]:
    """A user who signs in with :data:`PASSWORD` (``role`` in ``org``); (email, id)."""
    email = f"audit-{uuid.uuid4().hex[:8]}@example.com"
    user_id = run_coroutine(
        create_user_account(
            service.settings,
            email=email,
            password=PASSWORD,
            first_name="Ada",
            family_name="Lovelace",
            org=org,
            role=OrgRole(role),
        )
    )
    return email, user_id


def start_device_login(service: ArraylakeService) -> dict[str, Any]:
    started = httpx.post(f"{service.url}/oauth/device/code", data={"client_id": CLIENT_ID})
    assert started.status_code == 200, started.text
    return started.json()


def poll(service: ArraylakeService, device_code: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/oauth/token",
        data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": CLIENT_ID},
    )


def device_login(service: ArraylakeService, browser: httpx.Client) -> tuple[dict[str, Any], str]:
    """A device login approved by the signed-in ``browser``: (tokens, device code)."""
    started = start_device_login(service)
    assert decide(browser, started["user_code"]).status_code == 200
    tokens = poll(service, started["device_code"])
    assert tokens.status_code == 200, tokens.text
    return tokens.json(), started["device_code"]


def refresh(service: ArraylakeService, token: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": CLIENT_ID},
    )


def admin_http(org: Org) -> httpx.Client:
    return httpx.Client(
        base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=60, follow_redirects=False
    )


# ------------------------------------------------------------------------------------------------ sign-ins


def test_sign_ins_sign_outs_and_login_sessions(service: ArraylakeService, org: Org) -> None:
    email, user_id = new_user(service, org.name)
    wrong = "not-the-password-" + uuid.uuid4().hex
    refused = post_login(httpx.Client(base_url=service.url, timeout=60), email, wrong)
    assert refused.status_code == 401
    browser = sign_in(service, email)
    tokens, device_code = device_login(service, browser)
    consumed = poll(service, device_code)  # a copy of a code whose tokens were delivered
    assert consumed.status_code == 400 and consumed.json()["error"] == "invalid_grant"

    # a refresh token is good once; presenting the used one again ends the login
    fresh = refresh(service, tokens["refresh_token"])
    assert fresh.status_code == 200, fresh.text
    reused = refresh(service, tokens["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    # a second login, ended by its client
    second, _ = device_login(service, browser)
    assert (
        httpx.post(f"{service.url}/oauth/revoke", data={"token": second["refresh_token"]}).status_code == 200
    )

    denied = start_device_login(service)
    assert decide(browser, denied["user_code"], "deny").status_code == 200

    page = browser.get("/logout")
    assert browser.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    cookie = browser.cookies.get("arraylake_session")

    rows = audit_rows(service)
    one(rows, "member.add", actor=SERVICE_ACTOR, org=org.name, target=email, details={"role": "admin"})
    failed = one(rows, "auth.sign_in", outcome="failed", actor=email, details={"method": "password"})
    assert failed["actor_id"] is None and failed["details"]["reason"] == "wrong email or password"
    assert failed["client_address"] == "127.0.0.1" and failed["request_id"]
    mine = [r for r in rows if r["actor_id"] == user_id]
    one(mine, "auth.sign_in", outcome="ok", actor=email, details={"method": "password"})
    assert len(found(mine, "auth.sign_in", outcome="ok", details={"method": "device"})) == 2
    one(
        mine,
        "auth.sign_in",
        outcome="failed",
        details={"method": "device", "reason": "device code already used"},
    )
    one(mine, "auth.sign_in", outcome="failed", details={"method": "device", "reason": "denied by the user"})
    one(
        mine,
        "auth.sign_in",
        outcome="failed",
        details={"method": "refresh", "reason": "refresh token reused"},
    )
    one(mine, "auth.session_revoke", details={"reason": "refresh token reused", "client_id": CLIENT_ID})
    one(mine, "auth.session_revoke", details={"reason": "revoked by the client"})
    one(mine, "auth.sign_out", outcome="ok", actor=email)
    # a successful refresh is not an event; sign-ins belong to no org
    assert len(found(mine, "auth.sign_in")) == 6
    assert all(r["org_id"] is None and r["target"] is None for r in found(mine, "auth.sign_in"))

    secrets = [PASSWORD, wrong, device_code, denied["device_code"], tokens["refresh_token"]]
    secrets += [tokens["id_token"], tokens["access_token"], fresh.json()["refresh_token"]]
    secrets += [second["refresh_token"], second["id_token"], org.token]
    secrets += [cookie] if cookie else []
    assert_no_secrets(rows, secrets)


# ------------------------------------------------------------------------------------------ members, tokens


def test_members_api_clients_and_tokens(service: ArraylakeService, org: Org) -> None:
    http = admin_http(org)
    invited = f"invitee-{uuid.uuid4().hex[:8]}@Example.com"
    assert (
        http.post(f"/orgs/{org.name}/members", json={"principal": invited, "role": "member"}).status_code
        == 201
    )
    again = http.post(f"/orgs/{org.name}/members", json={"principal": invited, "role": "admin"})
    assert again.status_code == 409
    assert http.patch(f"/orgs/{org.name}/members/{invited}", json={"role": "repo_reader"}).status_code == 200
    assert http.delete(f"/orgs/{org.name}/members/{invited}").status_code == 204
    gone = http.delete(f"/orgs/{org.name}/members/{invited}")
    assert gone.status_code == 404

    made = http.post(f"/orgs/{org.name}/api-clients", json={"name": "audit bot", "role": "repo_writer"})
    assert made.status_code == 201, made.text
    client_id = made.json()["client"]["_id"]
    first = made.json()["token"]
    extra = http.post(f"/orgs/{org.name}/api-clients/{client_id}/tokens", json={"name": "rotation"})
    assert extra.status_code == 201, extra.text
    token_id = extra.json()["id"]
    assert http.delete(f"/orgs/{org.name}/api-clients/{client_id}/tokens/{token_id}").status_code == 204
    twice = http.delete(f"/orgs/{org.name}/api-clients/{client_id}/tokens/{token_id}")
    assert twice.status_code == 404
    assert http.delete(f"/orgs/{org.name}/api-clients/{client_id}").status_code == 204

    rows = [r for r in audit_rows(service) if r["org"] == org.name]
    # `server init` made the org, its admin API client and its token
    for action in ("org.create", "api_client.create", "token.create"):
        entry = one(rows, action, actor=SERVICE_ACTOR, details={"via": "server init"})
        assert entry["outcome"] == "ok" and entry["org_id"]
    org_id = one(rows, "org.create")["org_id"]

    target = invited.lower()
    by_admin = {"actor": INIT_ADMIN, "org_id": org_id, "target": target, "outcome": "ok"}
    one(rows, "member.add", **by_admin, details={"role": "member"})  # the 409 left nothing
    one(rows, "member.role_change", **by_admin, details={"previous_role": "member", "role": "repo_reader"})
    one(rows, "member.remove", **by_admin, details={"role": "repo_reader"})

    bot = one(rows, "api_client.create", actor=INIT_ADMIN, target=client_id)
    assert bot["details"] == {"name": "audit bot", "role": "repo_writer"}
    one(rows, "token.create", actor=INIT_ADMIN, target=first["id"], details={"name": "first token"})
    one(
        rows,
        "token.create",
        actor=INIT_ADMIN,
        target=token_id,
        details={"name": "rotation", "client_id": client_id},
    )
    one(rows, "token.revoke", actor=INIT_ADMIN, target=token_id, details={"name": "rotation"})
    deleted = one(rows, "api_client.delete", actor=INIT_ADMIN, target=client_id)
    assert deleted["details"]["tokens_revoked"] == 1 and deleted["details"]["name"] == "audit bot"
    assert_no_secrets(rows, [org.token, first["token"], extra.json()["token"]])
    assert not any("ema_" in json.dumps(r, default=str) for r in rows)  # not even a token's hint


def test_last_admin_refusals_leave_no_entry(service: ArraylakeService, org: Org) -> None:
    http = admin_http(org)
    me = http.get("/user").json()
    refused = http.delete(f"/orgs/{org.name}/members/{me['id']}")
    assert refused.status_code == 409
    demoted = http.patch(f"/orgs/{org.name}/members/{me['id']}", json={"role": "member"})
    assert demoted.status_code == 409
    rows = [r for r in audit_rows(service) if r["org"] == org.name]
    assert not found(rows, "member.remove") and not found(rows, "member.role_change")
    assert not found(rows, "api_client.delete")


# -------------------------------------------------------------------------------------- orgs and grants


def test_org_creation_and_repo_grants(service: ArraylakeService, org: Org) -> None:
    email, user_id = new_user(service, None)
    tokens, _ = device_login(service, sign_in(service, email))
    user = httpx.Client(base_url=service.url, headers={"authorization": f"Bearer {tokens['id_token']}"})
    name = f"founded-{uuid.uuid4().hex[:8]}"
    assert user.post("/orgs", json={"name": name, "display_name": "Founded"}).status_code == 201
    assert user.post("/orgs", json={"name": name}).status_code == 409

    repo = f"granted-{uuid.uuid4().hex[:6]}"
    Client(service_uri=org.url, token=org.token).create_repo(f"{org.name}/{repo}")
    http = admin_http(org)
    grantee = f"grantee-{uuid.uuid4().hex[:8]}@example.com"
    grants = f"/repos/{org.name}/{repo}/grants"
    assert (
        http.post(grants, json={"principal": grantee, "actions": ["CAN_READ", "CAN_WRITE"]}).status_code
        == 200
    )
    # granting what is held already changes nothing, and records nothing
    assert http.post(grants, json={"principal": grantee, "actions": ["CAN_READ"]}).status_code == 200
    assert http.delete(f"{grants}/{grantee}", params={"action": "CAN_WRITE"}).status_code == 200
    assert http.delete(f"{grants}/{grantee}", params={"action": "CAN_WRITE"}).status_code == 404
    assert http.delete(f"{grants}/{grantee}").status_code == 200

    rows = audit_rows(service)
    founded = one(rows, "org.create", org=name, actor_id=user_id, actor=email, target=name)
    assert founded["org_id"] and founded["details"]["display_name"] == "Founded"
    mine = [r for r in rows if r["org"] == org.name and r["repo"] == repo]
    added = one(mine, "grant.add", actor=INIT_ADMIN, target=grantee)
    assert sorted(added["details"]["actions"]) == ["CAN_READ", "CAN_WRITE"]
    removed = found(mine, "grant.remove", actor=INIT_ADMIN, target=grantee)
    assert [r["details"]["actions"] for r in removed] == [["CAN_WRITE"], ["CAN_READ"]]
    assert_no_secrets(rows, [tokens["id_token"], tokens["refresh_token"], org.token, PASSWORD])


# ------------------------------------------------------------------------------------------- web pages


@pytest.fixture
def web_admin(service: ArraylakeService, org: Org) -> Iterator[WebUser]:
    email, user_id = new_user(service, org.name, "admin")
    http = httpx.Client(base_url=service.url, follow_redirects=False, timeout=60)
    assert post_login(http, email, PASSWORD, next="/app").status_code == 303
    user = WebUser(email, user_id, http)
    yield user
    user.close()


def test_web_pages_record_each_change_once(service: ArraylakeService, org: Org, web_admin: WebUser) -> None:
    members = f"/app/{org.name}/-/members"
    invited = f"web-{uuid.uuid4().hex[:8]}@example.com"
    assert web_admin.post(members, {"principal": invited, "role": "member"}).status_code == 303
    invitee_id = next(
        m["principal_id"]
        for m in admin_http(org).get(f"/orgs/{org.name}/members").json()
        if m["email"] == invited
    )
    assert web_admin.post(f"{members}/{invitee_id}/role", {"role": "repo_writer"}).status_code == 303
    assert web_admin.post(f"{members}/{invitee_id}/remove", {"confirm": "true"}).status_code == 303

    clients = f"/app/{org.name}/-/api-clients"
    page = web_admin.post(clients, {"name": "web bot", "role": "repo_reader"})
    assert page.status_code == 201, page.text
    shown = re.search(r"ema_[A-Za-z0-9_\-]{43}", page.text)
    assert shown is not None
    listed = admin_http(org).get(f"/orgs/{org.name}/api-clients").json()
    bot = next(c for c in listed if c["name"] == "web bot")
    bot_id = bot["_id"]
    token_id = bot["tokens"][0]["id"]
    assert web_admin.post(f"{clients}/{bot_id}/tokens/{token_id}/revoke").status_code == 303
    assert web_admin.post(f"{clients}/{bot_id}/revoke", {"confirm": "true"}).status_code == 303

    rows = [
        r for r in audit_rows(service) if r["org"] == org.name and r["actor_id"] == web_admin.principal_id
    ]
    by = {"actor": web_admin.email, "outcome": "ok"}
    one(rows, "member.add", target=invited, **by)
    one(rows, "member.role_change", target=invited, **by, details={"role": "repo_writer"})
    one(rows, "member.remove", target=invited, **by)
    one(rows, "api_client.create", target=bot_id, **by)
    one(rows, "token.create", target=token_id, **by)
    one(rows, "token.revoke", target=token_id, **by)
    one(rows, "api_client.delete", target=bot_id, **by, details={"tokens_revoked": 0})
    assert_no_secrets(rows, [shown.group(0), PASSWORD])


# ------------------------------------------------------------------------------------------------ OIDC


@pytest.fixture
def provider() -> Iterator[FakeOidcProvider]:
    idp = FakeOidcProvider()
    idp.start()
    yield idp
    idp.stop()


def through_provider(service: ArraylakeService) -> httpx.Response:
    browser = httpx.Client(follow_redirects=False, timeout=30)
    response = browser.get(f"{service.url}/login/oidc", params={"next": "/app"})
    assert response.status_code == 302, response.text
    at_provider = browser.get(response.headers["location"])
    return browser.get(at_provider.headers["location"])


def test_oidc_sign_ins(fresh_service: ArraylakeService, provider: FakeOidcProvider) -> None:
    fresh_service.env.update(provider.service_env())
    fresh_service.start()
    provider.next_user = {"sub": "a-1", "email": "hopper@example.com", "email_verified": True}
    assert through_provider(fresh_service).status_code == 303
    assert through_provider(fresh_service).status_code == 303
    provider.next_user = {"sub": "a-2", "email": "unverified@example.com", "email_verified": False}
    assert through_provider(fresh_service).status_code == 401

    rows = audit_rows(fresh_service)
    created, again = found(rows, "auth.sign_in", outcome="ok", actor="hopper@example.com")
    assert created["details"] == {"method": "oidc", "account": "created"} and created["actor_id"]
    assert again["details"] == {"method": "oidc", "account": "existing"}
    refused = one(rows, "auth.sign_in", outcome="failed", details={"method": "oidc"})
    assert refused["actor"] is None and "verified email" in refused["details"]["reason"]
    assert_no_secrets(rows, [provider.client_secret])
