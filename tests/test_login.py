"""Logging in with the device flow, end to end: the real service, its pages driven by form posts."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arraylake import Client
from arraylake.exceptions import ArraylakeAuthenticationError
from arraylake.types import UserInfo
from tests.support.service import ArraylakeService
from tests.support.users import (
    PendingLogin,
    create_user,
    csrf_of,
    decide,
    post_login,
    sign_in,
    token_file,
)

CLIENT_ID = "arraylake-python"


@pytest.fixture
def login_service(fresh_service: ArraylakeService) -> Iterator[ArraylakeService]:
    fresh_service.env.update(
        {
            "ARRAYLAKE_SERVER_DEVICE_POLL_SECONDS": "1",
            "ARRAYLAKE_SERVER_ID_TOKEN_SECONDS": "3",
            "ARRAYLAKE_SERVER_LOGIN_FAILURES_ALLOWED": "3",
        }
    )
    fresh_service.start()
    yield fresh_service


def test_device_login_refresh_and_logout(login_service: ArraylakeService, home: Path) -> None:
    service = login_service
    org = service.new_org("lab")
    create_user(service, "ada@example.com", org=org.name, role="repo_writer")
    client = Client(service.url)
    with pytest.raises(ArraylakeAuthenticationError, match="not logged in"):
        client.list_repos(org.name)

    pending = PendingLogin(client).start()
    assert pending.code is not None
    assert pending.code.verification_uri_complete.startswith(f"{service.url}/device?user_code=")
    browser = sign_in(service, "ada@example.com")
    approved = decide(browser, pending.code.user_code)
    assert approved.status_code == 200 and "Device connected" in approved.text
    pending.finish()

    saved = token_file(home, service)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    tokens = json.loads(saved.read_text())
    assert set(tokens) >= {"access_token", "id_token", "refresh_token", "expires_in", "token_type"}

    # the login acts as the user, with the user's role
    user = client.get_user()
    assert isinstance(user, UserInfo) and user.email == "ada@example.com" and user.first_name == "Ada"
    client.create_repo(f"{org.name}/by-ada")
    author = next(iter(client.get_repo(f"{org.name}/by-ada").ancestry(branch="main")))
    assert author.message == "Repository initialized"

    # the id token lives 3 s: after that a request gets 401, the client refreshes once and goes on
    time.sleep(3.5)
    assert [r.name for r in client.list_repos(org.name)] == ["by-ada"]
    refreshed = json.loads(saved.read_text())
    assert (
        refreshed["refresh_token"] != tokens["refresh_token"] and refreshed["id_token"] != tokens["id_token"]
    )
    # get_repo takes the blocking path (no event loop): it refreshes the same way
    time.sleep(3.5)
    assert client.get_repo(f"{org.name}/by-ada").list_branches() == {"main"}
    assert json.loads(saved.read_text())["id_token"] != refreshed["id_token"]

    # presenting the used refresh token again ends the whole login (it could only be a stolen copy)
    reuse = httpx.post(
        f"{service.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": CLIENT_ID,
        },
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    bearer = {"authorization": f"Bearer {refreshed['id_token']}"}
    assert httpx.get(f"{service.url}/user", headers=bearer).status_code == 401

    # log in again, then log out: the login is revoked on the service and removed from disk
    pending = PendingLogin(client).start()
    decide(browser, pending.code.user_code)  # the browser session is still signed in
    pending.finish()
    current = json.loads(saved.read_text())
    client.logout()
    assert not saved.exists()
    assert (
        httpx.get(
            f"{service.url}/user", headers={"authorization": f"Bearer {current['id_token']}"}
        ).status_code
        == 401
    )
    refresh = httpx.post(
        f"{service.url}/oauth/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": current["refresh_token"],
            "client_id": CLIENT_ID,
        },
    )
    assert refresh.status_code == 400 and "ended" in refresh.json()["error_description"]
    with pytest.raises(ArraylakeAuthenticationError, match="not logged in"):
        client.list_repos(org.name)


def _start_device(service: ArraylakeService) -> dict:
    response = httpx.post(
        f"{service.url}/oauth/device/code", data={"client_id": CLIENT_ID, "scope": "openid"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _poll(service: ArraylakeService, device_code: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/oauth/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": device_code,
            "client_id": CLIENT_ID,
        },
    )


def test_device_codes_pending_denied_reused_unknown(login_service: ArraylakeService) -> None:
    service = login_service
    create_user(service, "grace@example.com")
    browser = sign_in(service, "grace@example.com")

    started = _start_device(service)
    assert started["interval"] == 1 and started["expires_in"] > 0
    assert _poll(service, started["device_code"]).json()["error"] == "authorization_pending"
    assert _poll(service, started["device_code"]).json()["error"] == "slow_down"  # polled too fast
    time.sleep(1.1)
    assert decide(browser, started["user_code"]).status_code == 200
    first = _poll(service, started["device_code"])
    assert first.status_code == 200 and first.headers["cache-control"] == "no-store"
    again = _poll(service, started["device_code"])
    assert again.status_code == 400 and again.json() == {
        "error": "invalid_grant",
        "error_description": "this device code has already been used",
    }

    denied = _start_device(service)
    assert decide(browser, denied["user_code"], "deny").status_code == 200
    time.sleep(1.1)
    assert _poll(service, denied["device_code"]).json()["error"] == "access_denied"
    # a decided code cannot be decided again
    page = browser.get("/device", params={"user_code": denied["user_code"]})
    assert page.status_code == 404 and "unknown, expired or already used" in page.text

    assert _poll(service, "no-such-code").json()["error"] == "invalid_grant"
    unknown_client = httpx.post(f"{service.url}/oauth/device/code", data={"client_id": "intruder"})
    assert unknown_client.status_code == 401 and unknown_client.json()["error"] == "invalid_client"
    grant = httpx.post(f"{service.url}/oauth/token", data={"grant_type": "password", "client_id": CLIENT_ID})
    assert grant.json()["error"] == "unsupported_grant_type"


def test_expired_device_code(fresh_service: ArraylakeService) -> None:
    fresh_service.start(extra_env={"ARRAYLAKE_SERVER_DEVICE_CODE_SECONDS": "1"})
    create_user(fresh_service, "late@example.com")
    started = _start_device(fresh_service)
    time.sleep(1.5)
    assert _poll(fresh_service, started["device_code"]).json()["error"] == "expired_token"
    browser = sign_in(fresh_service, "late@example.com")
    page = browser.get("/device", params={"user_code": started["user_code"]})
    assert page.status_code == 404


def test_sign_in_failures_are_slowed_down(login_service: ArraylakeService) -> None:
    service = login_service
    create_user(service, "hopper@example.com")
    page = httpx.Client(base_url=service.url, follow_redirects=False)
    unknown = post_login(page, "nobody@example.com")
    assert (
        unknown.status_code == 401 and "Wrong email or password" in unknown.text
    )  # no hint that it's unknown
    for attempt in range(2):
        wrong = post_login(page, "hopper@example.com", f"guess {attempt}")
        assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
    # three failures from this address: the next attempt must wait, even with the right password
    slowed = post_login(page, "hopper@example.com")
    assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) >= 1
    assert "Too many failed sign-ins" in slowed.text
    time.sleep(int(slowed.headers["retry-after"]) + 0.2)
    ok = post_login(page, "hopper@example.com")
    assert ok.status_code == 303 and "arraylake_session" in ok.cookies


def test_pages_refuse_forgery_and_open_redirects(login_service: ArraylakeService) -> None:
    service = login_service
    create_user(service, "turing@example.com")
    browser = sign_in(service, "turing@example.com")
    started = _start_device(service)
    forged = browser.post(
        "/device", data={"user_code": started["user_code"], "decision": "approve", "csrf": "guess"}
    )
    assert forged.status_code == 403
    anonymous = httpx.post(
        f"{service.url}/device", data={"user_code": started["user_code"], "decision": "approve", "csrf": "x"}
    )
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    time.sleep(1.1)
    assert _poll(service, started["device_code"]).json()["error"] == "authorization_pending"
    # the sign-in form only ever sends people back into this site
    away = post_login(
        httpx.Client(base_url=service.url), "turing@example.com", next="https://evil.example.com/"
    )
    assert away.status_code == 303 and away.headers["location"] == "/app"
    # the device page asks for sign-in first, keeping the code in the way back
    fresh = httpx.get(f"{service.url}/device", params={"user_code": started["user_code"]})
    assert (
        fresh.status_code == 303
        and started["user_code"] in httpx.URL(fresh.headers["location"]).params["next"]
    )
    assert csrf_of(browser.get("/device", params={"user_code": started["user_code"]}).text)


def test_discovery_and_keys(login_service: ArraylakeService) -> None:
    config = httpx.get(f"{login_service.url}/auth/config", params={"target": "client"}).json()
    assert config["domain"] == f"127.0.0.1:{login_service.port}" and config["client_id"] == CLIENT_ID
    assert config["token_endpoint"] == f"{login_service.url}/oauth/token"
    keys = httpx.get(f"{login_service.url}/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "EC" and "d" not in keys[0]  # public half only
    tampered = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert (
        httpx.get(f"{login_service.url}/user", headers={"authorization": f"Bearer {tampered}"}).status_code
        == 401
    )
