"""Attacks on the sign-in pages and the device flow, performed against a real service process.

Each test does what an attacker would (guess passwords with email variants, in parallel or behind a forged
X-Forwarded-For; forge the sign-in and sign-out forms; reuse a cookie after sign-out; phish a device code)
and checks that the service holds.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import make_service
from tests.support.service import ArraylakeService
from tests.support.users import create_user, csrf_of, post_login, sign_in

CLIENT_ID = "arraylake-python"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def proxied(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArraylakeService]:
    """A service behind a trusted proxy on loopback: each test plays clients of its own addresses with
    X-Forwarded-For, so that the throttle's address and account keys can be told apart."""
    env = {
        "ARRAYLAKE_SERVER_FORWARDED_ALLOW_IPS": "127.0.0.1",
        "ARRAYLAKE_SERVER_LOGIN_FAILURES_ALLOWED": "3",
        "ARRAYLAKE_SERVER_LOGIN_ACCOUNT_FAILURES_ALLOWED": "2",
    }
    service = make_service(tmp_path_factory.mktemp(f"proxied-{request.param}"), request.param, request, env)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def direct(fresh_service: ArraylakeService) -> ArraylakeService:
    """A service with default settings: no proxy is trusted."""
    fresh_service.start()
    return fresh_service


def browser(service: ArraylakeService, address: str | None = None) -> httpx.Client:
    headers = {"x-forwarded-for": address} if address else {}
    return httpx.Client(base_url=service.url, follow_redirects=False, timeout=30, headers=headers)


def start_device_login(service: ArraylakeService, address: str | None = None) -> dict[str, str]:
    headers = {"x-forwarded-for": address} if address else {}
    response = httpx.post(f"{service.url}/oauth/device/code", data={"client_id": CLIENT_ID}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


# ------------------------------------------------------------------------------------ item 4: the throttle


def test_email_variants_count_against_one_account(proxied: ArraylakeService) -> None:
    create_user(proxied, "ada@example.com")
    variants = iter(["ada@example.com", " ADA@Example.com ", "ada@example.com\u00a0", "\uff41da@example.com"])
    # two addresses, two wrong guesses each, each with another spelling of the same account
    for address in ("192.0.2.1", "192.0.2.1", "192.0.2.2"):
        wrong = post_login(browser(proxied, address), next(variants), "wrong password 1")
        assert wrong.status_code == 401, wrong.text
    # the account has failed three times (allowed: two): an address that has failed must now wait
    slowed = post_login(browser(proxied, "192.0.2.2"), next(variants), "wrong password 2")
    assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) >= 1, slowed.text
    again = post_login(browser(proxied, "192.0.2.2"), "ada@example.com")  # even with the right password
    assert again.status_code == 429
    # no lockout: the owner, from an address that has not failed, still gets in (any spelling)
    owner = post_login(browser(proxied, "192.0.2.3"), "\u00a0Ada@EXAMPLE.com ")
    assert owner.status_code == 303 and owner.headers["location"] == "/device"


def test_concurrent_guesses_are_counted_before_checking(proxied: ArraylakeService) -> None:
    create_user(proxied, "grace@example.com")
    address = "198.51.100.16"
    forms = []
    for _ in range(16):
        page = browser(proxied, address)
        forms.append((page, csrf_of(page.get("/login").text)))
    start = threading.Barrier(len(forms))
    statuses: list[int] = []

    def guess(page: httpx.Client, csrf: str, n: int) -> None:
        data = {"email": "grace@example.com", "password": f"guess number {n}", "csrf": csrf}
        start.wait()
        statuses.append(page.post("/login", data=data).status_code)

    threads = [threading.Thread(target=guess, args=(*form, n)) for n, form in enumerate(forms)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(statuses) == 16 and set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= 3, f"{statuses.count(401)} passwords checked, 3 allowed"


def test_forwarded_for_is_believed_only_from_trusted_proxies(direct: ArraylakeService) -> None:
    create_user(direct, "owner@example.com")
    owner = sign_in(direct, "owner@example.com")
    # a client on the service's own machine claims a new address for every guess, at a new account
    for n in range(3):
        wrong = post_login(browser(direct, f"203.0.113.{n}"), f"nobody{n}@example.com", "wrong password")
        assert wrong.status_code == 401
    slowed = post_login(browser(direct, "203.0.113.99"), "nobody9@example.com", "wrong password")
    assert slowed.status_code == 429, "X-Forwarded-For from an untrusted client chose the throttle's key"
    # nor does it choose the address the approval page shows, or the scheme (HSTS)
    started = start_device_login(direct, "203.0.113.7")
    page = owner.get("/device", params={"user_code": started["user_code"]})
    assert page.status_code == 200 and _fact(page.text, "requested-from") == "127.0.0.1"
    https = httpx.get(f"{direct.url}/login", headers={"x-forwarded-proto": "https"})
    assert "strict-transport-security" not in https.headers


# ------------------------------------------------------------------------ item 5: device flow and sessions


def _fact(page: str, name: str) -> str:
    found = re.search(rf'id="{name}">([^<]*)<', page)
    assert found, page
    return found.group(1).strip()


def test_approval_page_says_who_is_asking(proxied: ArraylakeService) -> None:
    create_user(proxied, "linus@example.com")
    started = start_device_login(proxied, "198.51.100.77")
    page = sign_in(proxied, "linus@example.com").get("/device", params={"user_code": started["user_code"]})
    assert page.status_code == 200
    assert _fact(page.text, "client-id") == CLIENT_ID
    assert _fact(page.text, "requested-from") == "198.51.100.77"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", _fact(page.text, "requested-at"))
    assert re.fullmatch(r"\d+ (minutes|seconds) more", _fact(page.text, "valid-for"))
    assert "full access to your account" in page.text


def test_sign_out_ends_the_session_on_the_service(proxied: ArraylakeService) -> None:
    create_user(proxied, "margaret@example.com")
    signed_in = sign_in(proxied, "margaret@example.com")
    stolen = dict(signed_in.cookies)  # what an attacker copied from the browser
    confirm = signed_in.get("/logout")
    assert confirm.status_code == 200 and 'action="/logout"' in confirm.text
    # another site cannot sign the user out: the form needs the session's CSRF token
    assert signed_in.post("/logout").status_code == 403
    assert signed_in.post("/logout", data={"csrf": "guess"}).status_code == 403
    assert signed_in.get("/device").status_code == 200
    out = signed_in.post("/logout", data={"csrf": csrf_of(confirm.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    replay = httpx.Client(base_url=proxied.url, cookies=stolen, follow_redirects=False)
    after = replay.get("/device")
    assert after.status_code == 303 and after.headers["location"].startswith("/login"), (
        "the cookie still signs in after sign-out"
    )
    assert (
        replay.post(
            "/device", data={"user_code": "BCDF-GHJK", "decision": "approve", "csrf": "x"}
        ).status_code
        == 303
    )


def test_sign_in_form_cannot_be_forged(proxied: ArraylakeService) -> None:
    create_user(proxied, "edsger@example.com")
    data = {"email": "edsger@example.com", "password": "correct horse battery staple", "next": "/device"}
    # another site posts the attacker's credentials into the visitor's browser: no token, no sign-in
    forged = browser(proxied).post("/login", data=data)
    assert forged.status_code == 403 and "arraylake_session" not in forged.cookies
    # a token from another browser's form does not fit this browser's cookie
    other = csrf_of(browser(proxied).get("/login").text)
    victim = browser(proxied)
    victim.get("/login")
    assert victim.post("/login", data={**data, "csrf": other}).status_code == 403
    assert post_login(victim, "edsger@example.com").status_code == 303


def test_pages_send_security_headers(proxied: ArraylakeService) -> None:
    page = httpx.get(f"{proxied.url}/login")
    headers = page.headers
    policy = headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce and f'<style nonce="{nonce.group(1)}">' in page.text
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy and "<script" not in page.text and "style=" not in page.text
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in headers  # plain http
    api = httpx.get(f"{proxied.url}/")
    assert api.headers["x-content-type-options"] == "nosniff"
    # behind the trusted proxy, over https: browsers are told to stay on https
    https = httpx.get(f"{proxied.url}/login", headers={"x-forwarded-proto": "https"})
    assert https.headers["strict-transport-security"].startswith("max-age=")


def test_absolute_urls_come_from_public_url(fresh_service: ArraylakeService) -> None:
    public = "https://arraylake.example.com"
    fresh_service.start(extra_env={"ARRAYLAKE_SERVER_PUBLIC_URL": public})
    forged = {"host": "evil.example.net"}
    config = httpx.get(f"{fresh_service.url}/auth/config", headers=forged).json()
    assert config["domain"] == "arraylake.example.com"
    assert config["device_authorization_endpoint"] == f"{public}/oauth/device/code"
    started = httpx.post(
        f"{fresh_service.url}/oauth/device/code", data={"client_id": CLIENT_ID}, headers=forged
    ).json()
    assert started["verification_uri"] == f"{public}/device"
    assert started["verification_uri_complete"].startswith(f"{public}/device?user_code=")
    discovery = httpx.get(f"{fresh_service.url}/.well-known/openid-configuration", headers=forged).json()
    assert all(
        discovery[k].startswith(public)
        for k in ("jwks_uri", "token_endpoint", "device_authorization_endpoint")
    )
    page = httpx.get(f"{fresh_service.url}/login", headers=forged)
    assert page.headers["strict-transport-security"].startswith("max-age=")  # PUBLIC_URL is https
    assert "evil.example.net" not in page.text
