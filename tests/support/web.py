"""The web app in tests: signed-in browser-like HTTP sessions, people of each role, a repo with history,
and Chromium (Playwright) with screenshots kept as test artifacts."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.server.bootstrap import create_user_account
from arraylake.types import OrgRole
from tests.support.service import ArraylakeService, Org, run_coroutine
from tests.support.users import PASSWORD, post_login

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
"""Screenshots of the pages, kept after the run (CI keeps the directory)."""

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


@dataclass
class WebUser:
    """A person signed in on the service's pages, through httpx (no JavaScript)."""

    email: str
    principal_id: str
    http: httpx.Client
    csrf: str = ""

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        """A page; remembers the CSRF token its layout carries, for the next post."""
        response = self.http.get(path, **kwargs)  # type: ignore[arg-type]
        found = _CSRF.search(response.text)
        if found and found.group(1):
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, object] | None = None, **kwargs: object) -> httpx.Response:
        """A form post, as the page's form sends it (with the CSRF token unless ``data`` has one)."""
        if not self.csrf:
            self.get("/app/-/account")
        form = {"csrf": self.csrf, **(data or {})}
        return self.http.post(path, data=form, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self.http.close()


def web_user(service: ArraylakeService, org: str | None, role: str = "admin", name: str = "user") -> WebUser:
    """A new user (``role`` in ``org``, or no org), signed in on the pages."""
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.com"
    # In-process, as `arraylake server user create` does it: a CLI process per person costs seconds
    principal_id = run_coroutine(
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
    http = httpx.Client(base_url=service.url, follow_redirects=False, timeout=60)
    response = post_login(http, email, PASSWORD, next="/app")
    assert response.status_code == 303, response.text
    return WebUser(email, principal_id, http)


@dataclass
class SampleRepo:
    """A repo with history: three commits on ``main``, a branch ``dev`` and a tag ``v1``.

    ``weather/temperature`` is (time 4, lat 18, lon 36) float32 in chunks of (1, 9, 9) with CF attributes and
    coordinates; ``weather/station`` a 1-D series of 50. The second commit rewrites the chunks of time 1,
    west half (lon < 18), of temperature; the third changes its ``units`` attribute and adds ``weather/wind``.
    """

    org: str
    name: str
    snapshots: list[str] = field(default_factory=list)
    """Oldest first: the initial commit, the chunk rewrite, the attribute change."""

    @property
    def path(self) -> str:
        return f"/app/{self.org}/{self.name}"


def temperature_values() -> np.ndarray:
    time, lat, lon = np.meshgrid(np.arange(4), np.arange(18), np.arange(36), indexing="ij")
    return (270 + time + 0.5 * lat + 0.1 * lon).astype("float32")


def write_sample_repo(
    org: Org, name: str | None = None, *, metadata: dict[str, object] | None = None
) -> SampleRepo:
    """Create and fill a :class:`SampleRepo` through the client, as a user would."""
    name = name or f"weather-{uuid.uuid4().hex[:6]}"
    client = Client(service_uri=org.url, token=org.token)
    repo = client.create_repo(f"{org.name}/{name}", description="Sample weather data", metadata=metadata)
    sample = SampleRepo(org.name, name)

    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="w")
    group = root.create_group("weather", attributes={"title": "Sample weather"})
    lat = group.create_array("lat", shape=(18,), chunks=(18,), dtype="float64", dimension_names=["lat"])
    lat[:] = np.linspace(-85, 85, 18)
    lat.attrs.update({"units": "degrees_north", "standard_name": "latitude", "axis": "Y"})
    lon = group.create_array("lon", shape=(36,), chunks=(36,), dtype="float64", dimension_names=["lon"])
    lon[:] = np.linspace(-175, 175, 36)
    lon.attrs.update({"units": "degrees_east", "standard_name": "longitude", "axis": "X"})
    time = group.create_array("time", shape=(4,), chunks=(4,), dtype="int64", dimension_names=["time"])
    time[:] = np.arange(4)
    time.attrs.update({"units": "days since 2026-01-01", "standard_name": "time", "axis": "T"})
    temperature = group.create_array(
        "temperature",
        shape=(4, 18, 36),
        chunks=(1, 9, 9),
        dtype="float32",
        dimension_names=["time", "lat", "lon"],
        fill_value=np.nan,
    )
    temperature[:] = temperature_values()
    temperature.attrs.update(
        {"units": "K", "standard_name": "air_temperature", "long_name": "Air temperature"}
    )
    station = group.create_array(
        "station", shape=(50,), chunks=(10,), dtype="float64", dimension_names=["obs"]
    )
    station[:] = np.sin(np.arange(50) / 5)
    sample.snapshots.append(session.commit("Initial weather data"))

    session = repo.writable_session("main")
    temperature = zarr.open_array(session.store, path="weather/temperature")
    temperature[1, :, :18] = temperature_values()[1, :, :18] + 100
    sample.snapshots.append(session.commit("Warm the west at time 1"))

    session = repo.writable_session("main")
    group = zarr.open_group(session.store, path="weather")
    group["temperature"].attrs["units"] = "degK"
    wind = group.create_array(
        "wind", shape=(18, 36), chunks=(9, 36), dtype="float32", dimension_names=["lat", "lon"]
    )
    wind[:] = 3.0
    sample.snapshots.append(session.commit("Units as degK, add wind"))

    repo.create_branch("dev", sample.snapshots[1])
    repo.create_tag("v1", sample.snapshots[0])
    return sample


# ------------------------------------------------------------------------------------------- Chromium


def require_chromium() -> str:
    """The system Chromium: a missing one fails the test, never skips it."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser` to install Chromium from the system packages",
            pytrace=False,
        )
    return CHROMIUM


def launch_browser() -> Iterator[object]:
    """A headless system Chromium (a generator for a fixture)."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def watch(page: object) -> list[str]:
    """Collect script errors and failed responses of ``page`` (except those a test expects: 4xx pages)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"script error: {exc}"))  # type: ignore[attr-defined]
    page.on(  # type: ignore[attr-defined]
        "console",
        lambda message: (
            errors.append(f"console {message.type}: {message.text}")
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    page.on(  # type: ignore[attr-defined]
        "response",
        lambda r: (
            errors.append(f"{r.status} for {r.url}")
            if r.status >= 500 and urlsplit(r.url).path != "/favicon.ico"
            else None
        ),
    )
    return errors


def screenshot(page: object, name: str) -> Path:
    """Save a full-page screenshot as ``test-artifacts/web/<name>.png`` and return its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


def browser_sign_in(page: object, service: ArraylakeService, email: str, next_path: str = "/app") -> None:
    """Sign in through the sign-in page, as a person does."""
    page.goto(f"{service.url}/login?next={next_path}")  # type: ignore[attr-defined]
    page.fill("#email", email)  # type: ignore[attr-defined]
    page.fill("#password", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
