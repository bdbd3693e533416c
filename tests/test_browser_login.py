"""The device-login pages in a real headless Chromium (Playwright): sign in, approve, deny.

Chromium comes from the system packages (``make browser``), not from ``playwright install``.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from arraylake import Client
from arraylake.exceptions import ArraylakeAuthenticationError
from tests.support.service import ArraylakeService
from tests.support.users import PASSWORD, PendingLogin, create_user, token_file
from tests.support.web import CHROMIUM, CHROMIUM_ARGS

EMAIL = "ada@example.com"


@pytest.fixture
def login_service(fresh_service: ArraylakeService) -> Iterator[ArraylakeService]:
    fresh_service.env["ARRAYLAKE_SERVER_DEVICE_POLL_SECONDS"] = "1"
    fresh_service.start()
    yield fresh_service


@pytest.fixture
def chromium() -> str:
    """The system Chromium: a missing one fails the test (before any service starts), never skips it."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser` to install Chromium from the system packages",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 900, "height": 700})
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))
    page.on(
        "response",
        lambda r: (
            errors.append(f"{r.status} for {r.url}")
            if r.status >= 400 and urlsplit(r.url).path != "/favicon.ico"  # the service has no icon
            else None
        ),
    )
    yield page
    context.close()
    assert not errors, f"the pages misbehaved in the browser: {errors}"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_device_login_approved_then_denied_in_chromium(
    chromium: str, login_service: ArraylakeService, home: Path, page: Page, tmp_path: Path
) -> None:
    service = login_service
    create_user(service, EMAIL)
    client = Client(service.url)

    # the link the client shows leads to the sign-in page first, and back to the code after it
    pending = PendingLogin(client).start()
    assert pending.code is not None
    page.goto(pending.code.verification_uri_complete)
    signing_in = urlsplit(page.url)
    assert signing_in.path == "/login", page.url
    assert parse_qs(signing_in.query)["next"] == [f"/device?user_code={pending.code.user_code}"], page.url
    expect(page.locator("h1")).to_have_text("Sign in")
    page.locator("#email").fill(EMAIL)
    page.locator("#password").fill(PASSWORD)
    with page.expect_response(
        lambda r: r.request.method == "GET" and r.url.startswith(f"{service.url}/device?")
    ) as shown:
        page.get_by_role("button", name="Sign in").click()
    assert shown.value.status == 200
    assert shown.value.headers.get("x-frame-options") == "DENY"  # the approve button cannot be framed
    assert shown.value.headers.get("cache-control") == "no-store"

    # the approval page shows the very code the client printed
    expect(page).to_have_title("Approve login · Arraylake")
    expect(page.locator("#user-code")).to_have_text(pending.code.user_code)
    expect(page.get_by_text(f"Signed in as {EMAIL}.")).to_be_visible()
    screenshot = tmp_path / "approve.png"
    page.screenshot(path=str(screenshot), full_page=True)
    width, height = png_size(screenshot)
    assert width >= 400 and height >= 300, (width, height)
    assert screenshot.stat().st_size > 5_000, "the screenshot is all but empty"

    page.locator("#approve").click()
    expect(page.locator("h1")).to_have_text("Device connected")
    expect(page.get_by_role("status")).to_have_text("You can close this window and return to your terminal.")
    pending.finish()
    assert token_file(home, service).exists()
    assert client.get_user().email == EMAIL

    # a second login, denied in the same (still signed-in) browser: straight to the approval page
    denied = PendingLogin(client).start()
    assert denied.code is not None and denied.code.user_code != pending.code.user_code
    page.goto(denied.code.verification_uri_complete)
    expect(page.locator("#user-code")).to_have_text(denied.code.user_code)
    page.get_by_role("button", name="Deny").click()
    expect(page.locator("h1")).to_have_text("Login denied")
    with pytest.raises(ArraylakeAuthenticationError, match="denied"):
        denied.finish()
    assert client.get_user().email == EMAIL  # the earlier login is untouched
