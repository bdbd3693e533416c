"""Signing in through an external OpenID Connect provider, then approving a device login."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arraylake import Client
from tests.support.oidc_provider import FakeOidcProvider
from tests.support.service import ArraylakeService
from tests.support.users import PendingLogin, create_user, decide


@pytest.fixture
def provider() -> Iterator[FakeOidcProvider]:
    idp = FakeOidcProvider()
    idp.start()
    yield idp
    idp.stop()


def oidc_service(service: ArraylakeService, provider: FakeOidcProvider, **extra: str) -> ArraylakeService:
    service.env.update(provider.service_env())
    service.env.update(extra)
    service.start()
    return service


def sign_in_through_provider(service: ArraylakeService) -> tuple[httpx.Client, httpx.Response]:
    """Follow the redirects from the service to the provider and back, as a browser would."""
    browser = httpx.Client(follow_redirects=False, timeout=30)
    response = browser.get(f"{service.url}/login/oidc", params={"next": "/device"})
    assert response.status_code == 302, response.text
    at_provider = browser.get(response.headers["location"])
    assert at_provider.status_code == 302
    back = browser.get(at_provider.headers["location"])
    return browser, back


def test_sign_in_with_the_provider_then_approve_a_login(
    fresh_service: ArraylakeService,
    provider: FakeOidcProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    service = oidc_service(fresh_service, provider)
    assert "sign in with Example SSO" in httpx.get(f"{service.url}/login").text
    provider.next_user = {
        "sub": "u-1",
        "email": "noether@example.com",
        "email_verified": True,
        "given_name": "Emmy",
    }
    browser, back = sign_in_through_provider(service)
    assert back.status_code == 303 and back.headers["location"] == "/device"
    assert "noether@example.com" in browser.get(f"{service.url}/device").text  # signed in, a user was created

    monkeypatch.setenv("HOME", str(tmp_path))
    client = Client(service.url)
    pending = PendingLogin(client).start()
    assert pending.code is not None
    browser.base_url = httpx.URL(service.url)
    decide(browser, pending.code.user_code)
    pending.finish()
    user = client.get_user()
    assert user.email == "noether@example.com" and user.first_name == "Emmy"

    # the same provider account signs in as the same user next time
    _, again = sign_in_through_provider(service)
    assert again.status_code == 303


def test_provider_accounts_link_to_existing_users(
    fresh_service: ArraylakeService, provider: FakeOidcProvider
) -> None:
    service = oidc_service(fresh_service, provider, ARRAYLAKE_SERVER_OIDC_CREATE_USERS="false")
    user_id = create_user(service, "curie@example.com")
    provider.next_user = {"sub": "u-2", "email": "curie@example.com"}
    browser, back = sign_in_through_provider(service)
    assert back.status_code == 303
    # approve a device login with this browser: the tokens are those of the existing account
    started = httpx.post(f"{service.url}/oauth/device/code", data={"client_id": "arraylake-python"}).json()
    browser.base_url = httpx.URL(service.url)
    decide(browser, started["user_code"])
    tokens = httpx.post(
        f"{service.url}/oauth/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": started["device_code"],
            "client_id": "arraylake-python",
        },
    ).json()
    me = httpx.get(f"{service.url}/user", headers={"authorization": f"Bearer {tokens['id_token']}"}).json()
    assert me["id"] == user_id and me["email"] == "curie@example.com"

    provider.next_user = {"sub": "u-3", "email": "stranger@example.com"}
    _, refused = sign_in_through_provider(service)
    assert refused.status_code == 403 and "no account for stranger@example.com" in refused.text


def test_provider_answers_that_cannot_be_trusted(
    fresh_service: ArraylakeService, provider: FakeOidcProvider
) -> None:
    service = oidc_service(fresh_service, provider)
    provider.next_user = {"sub": "u-4", "email": "unverified@example.com", "email_verified": False}
    _, unverified = sign_in_through_provider(service)
    assert unverified.status_code == 401 and "verified email" in unverified.text

    # a callback whose state does not match the one this browser started with
    browser = httpx.Client(follow_redirects=False, timeout=30)
    start = browser.get(f"{service.url}/login/oidc")
    forged = browser.get(f"{service.url}/login/oidc/callback", params={"code": "x", "state": "not-the-state"})
    assert start.status_code == 302 and forged.status_code == 400 and "stale" in forged.text
    assert "arraylake_session" not in browser.cookies
