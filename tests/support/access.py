"""People, orgs and raw requests for the access management tests.

Users are made with ``arraylake server user create`` and log in with the device flow driven by form posts
(approve, then one poll of the token endpoint: no waiting for the client's polling interval).
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import icechunk
import numpy as np
import zarr

from arraylake import AsyncClient, Client
from tests.support.service import ArraylakeService
from tests.support.users import PASSWORD, decide, sign_in

CLIENT_ID = "arraylake-python"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_user(
    service: ArraylakeService,
    email: str,
    *,
    password: str = PASSWORD,
    org: str | None = None,
    role: str | None = None,
) -> str:
    """``arraylake server user create`` with the password on stdin; returns the new user's id."""
    args = ["server", "user", "create", "--data-dir", str(service.data_dir), "--email", email]
    args += ["--password-stdin", "--first-name", "Test", "--family-name", email.split("@")[0]]
    if org:
        args += ["--org", org, "--role", role or "admin"]
    out = service.cli(*args, input=password + "\n").stdout
    found = re.search(r"\(([0-9a-f-]{36})\)", out)
    assert found, out
    return found.group(1)


def device_login(service: ArraylakeService, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Log in as a device would, approving the code in a signed-in browser session; the token response."""
    started = httpx.post(
        f"{service.url}/oauth/device/code", data={"client_id": CLIENT_ID, "scope": "openid"}, timeout=30
    )
    assert started.status_code == 200, started.text
    codes = started.json()
    browser = sign_in(service, email, password)
    try:
        approved = decide(browser, codes["user_code"])
    finally:
        browser.close()
    assert approved.status_code == 200 and "Device connected" in approved.text, approved.text
    tokens = httpx.post(
        f"{service.url}/oauth/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "device_code": codes["device_code"],
            "client_id": CLIENT_ID,
        },
        timeout=30,
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()


@dataclass
class Person:
    """A user of a service, logged in (their id token stands in for the saved login)."""

    service: ArraylakeService
    email: str
    id: str
    token: str
    login: dict[str, Any] = field(repr=False, default_factory=dict)

    def client(self) -> Client:
        return Client(self.service.url, token=self.token)

    def aclient(self) -> AsyncClient:
        return AsyncClient(self.service.url, token=self.token)

    def http(self) -> httpx.Client:
        return raw_http(self.service, self.token)


def new_person(service: ArraylakeService, name: str, *, password: str = PASSWORD) -> Person:
    email = f"{unique(name)}@example.com"
    user_id = create_user(service, email, password=password)
    tokens = device_login(service, email, password)
    return Person(service, email, user_id, tokens["id_token"], tokens)


def new_people(service: ArraylakeService, *names: str) -> list[Person]:
    """Several users at once (each ``server user create`` is a process of its own), logged in."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda name: new_person(service, name), names))


def raw_http(service: ArraylakeService, token: str) -> httpx.Client:
    """Plain HTTP with a bearer token, for what the client refuses to send."""
    return httpx.Client(
        base_url=service.url, headers={"authorization": f"Bearer {token}"}, timeout=30, follow_redirects=False
    )


def new_team_org(client: Client, prefix: str = "team") -> str:
    """An org created by the client's user, with a local default bucket; returns its name."""
    name = unique(prefix)
    client.create_org(name)
    client.create_bucket_config(org=name, nickname="local", uri="file://local")
    client.set_default_bucket_config(org=name, nickname="local")
    return name


async def new_team_org_async(client: AsyncClient, prefix: str = "team") -> str:
    name = unique(prefix)
    await client.create_org(name)
    await client.create_bucket_config(org=name, nickname="local", uri="file://local")
    await client.set_default_bucket_config(org=name, nickname="local")
    return name


# ------------------------------------------------------------------------------------------ repo contents


def write_values(repo: icechunk.Repository, values: np.ndarray, message: str) -> str:
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    array = root.require_array("values", shape=values.shape, chunks=(4,), dtype=values.dtype)
    array[:] = values
    return session.commit(message)


def read_values(repo: icechunk.Repository) -> np.ndarray:
    return zarr.open_group(repo.readonly_session("main").store, mode="r")["values"][:]
