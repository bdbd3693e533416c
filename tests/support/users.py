"""Users and browser-free approval of device logins, as a person would do them with form posts."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from arraylake import Client
from arraylake.types import DeviceAuthorizationResponse
from tests.support.service import ArraylakeService

PASSWORD = "correct horse battery staple"


def create_user(service: ArraylakeService, email: str, *, org: str | None = None, role: str = "admin") -> str:
    """``arraylake server user create``, password on stdin; returns the new user's id."""
    args = [
        "server",
        "user",
        "create",
        "--data-dir",
        str(service.data_dir),
        "--email",
        email,
        "--password-stdin",
    ]
    args += ["--first-name", "Ada", "--family-name", "Lovelace"]
    if org:
        args += ["--org", org, "--role", role]
    out = service.cli(*args, input=PASSWORD + "\n").stdout
    found = re.search(r"\(([0-9a-f-]{36})\)", out)
    assert found, out
    return found.group(1)


def sign_in(service: ArraylakeService, email: str, password: str = PASSWORD) -> httpx.Client:
    """A browser-like HTTP session, signed in on the service's pages."""
    browser = httpx.Client(base_url=service.url, follow_redirects=False, timeout=30)
    response = post_login(browser, email, password)
    assert response.status_code == 303, response.text
    return browser


def post_login(
    browser: httpx.Client, email: str, password: str = PASSWORD, next: str = "/device", **headers: str
) -> httpx.Response:
    """The sign-in form, as a browser sends it: fetched first (for its CSRF token and cookie), then posted."""
    form = browser.get("/login", params={"next": next}, headers=headers)
    data = {"email": email, "password": password, "next": next, "csrf": csrf_of(form.text)}
    return browser.post("/login", data=data, headers=headers)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def decide(browser: httpx.Client, user_code: str, decision: str = "approve") -> httpx.Response:
    page = browser.get("/device", params={"user_code": user_code})
    assert page.status_code == 200, page.text
    return browser.post(
        "/device", data={"user_code": user_code, "decision": decision, "csrf": csrf_of(page.text)}
    )


@dataclass
class PendingLogin:
    """``Client.login()`` running in a thread, waiting for its code to be approved."""

    client: Client
    code: DeviceAuthorizationResponse | None = None
    error: BaseException | None = None
    shown: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> PendingLogin:
        def on_code(authorization: DeviceAuthorizationResponse) -> None:
            self.code = authorization
            self.shown.set()

        def run() -> None:
            try:
                self.client.login(on_code=on_code)
            except BaseException as exc:
                self.error = exc
            finally:
                self.shown.set()
                self.done.set()

        threading.Thread(target=run, daemon=True).start()
        assert self.shown.wait(30), "login never showed a code"
        if self.error is not None:
            raise self.error
        return self

    def finish(self, timeout: float = 30) -> None:
        assert self.done.wait(timeout), "login did not finish"
        if self.error is not None:
            raise self.error


def token_file(home: Path, service: ArraylakeService) -> Path:
    return home / ".arraylake" / "tokens" / f"127.0.0.1_{service.port}.json"
