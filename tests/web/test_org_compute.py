"""The org's compute services on the web app's pages: enabling, the status table (and its fragment),
disabling, logs, who may, and bad input refused without changing anything.

The service here supervises nothing (like the quiet service of the API's tests): what the pages and the
API record stays as written, and a status is set as the supervisor would set it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from arraylake.server.compute.logbook import Logbook
from arraylake.types.compute import ServiceStatus
from tests.conftest import make_service
from tests.support.service import ArraylakeService, Org
from tests.support.web import WebUser, web_user
from tests.test_compute_api import observe, row_of


@pytest.fixture(scope="module")
def quiet_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArraylakeService]:
    env = {"ARRAYLAKE_SERVER_COMPUTE_SUPERVISE": "false", "ARRAYLAKE_SERVER_COMPUTE_REGIONS": "north,south"}
    service = make_service(tmp_path_factory.mktemp("web-compute"), "sqlite", request, env)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def quiet_org(quiet_service: ArraylakeService) -> Org:
    return quiet_service.new_org("compute")


@pytest.fixture
def boss(quiet_service: ArraylakeService, quiet_org: Org) -> Iterator[WebUser]:
    user = web_user(quiet_service, quiet_org.name, "admin", "boss")
    yield user
    user.close()


def services_of(org: Org) -> dict[str, dict[str, Any]]:
    """The org's enabled services through the JSON API, by name."""
    with httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}) as http:
        response = http.get(f"/compute/orgs/{org.name}/services")
    assert response.status_code == 200, response.text
    return {s["name"]: s for s in response.json()}


def page_url(org: Org) -> str:
    return f"/app/{org.name}/-/compute"


def test_admin_enables_sees_status_and_disables(boss: WebUser, quiet_org: Org) -> None:
    page = boss.get(page_url(quiet_org))
    assert page.status_code == 200, page.text
    assert 'id="no-services"' in page.text and 'id="enable-service"' in page.text
    assert '<option value="xs">' in page.text and '<option value="north" selected>' in page.text
    assert 'id="public-warning"' in page.text and "EVERY repo of" in page.text

    form = {"service_type": "zarr", "deployment_name": "web-zarr", "sku_code": "xs", "region": "south"}
    enabled = boss.post(page_url(quiet_org), {**form, "min_replicas": "0", "max_replicas": "2"})
    assert enabled.status_code == 303 and enabled.headers["location"] == page_url(quiet_org)
    stored = services_of(quiet_org)["web-zarr"]
    assert stored["config"]["sku_code"] == "xs" and stored["region"] == "south"
    assert (stored["config"]["min_replicas"], stored["config"]["max_replicas"]) == (0, 2)

    listed = boss.get(page_url(quiet_org))
    assert "zarr service web-zarr enabled in org" in listed.text  # the domain's message, once
    assert 'id="service-web-zarr"' in listed.text and 'class="badge progressing">progressing<' in listed.text
    assert stored["url"] in listed.text and 'id="disable-web-zarr"' in listed.text

    observe(quiet_org, "web-zarr", status=ServiceStatus.AVAILABLE.value, ready_replicas=1)
    fragment = boss.get(f"{page_url(quiet_org)}/services", headers={"hx-request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'hx-trigger="every 5s"' in fragment.text
    assert 'class="badge available">available<' in fragment.text and "1 ready" in fragment.text

    unconfirmed = boss.post(f"{page_url(quiet_org)}/web-zarr/disable")
    assert unconfirmed.status_code == 422 and "web-zarr" in services_of(quiet_org)
    disabled = boss.post(f"{page_url(quiet_org)}/web-zarr/disable", {"confirm": "true"})
    assert disabled.status_code == 303
    after = boss.get(page_url(quiet_org))
    assert "service web-zarr of org" in after.text and "disabled" in after.text
    assert 'id="service-web-zarr"' not in after.text and 'id="no-services"' in after.text
    assert services_of(quiet_org) == {}
    twice = boss.post(f"{page_url(quiet_org)}/web-zarr/disable", {"confirm": "true"})
    assert twice.status_code == 409 and "already disabled" in twice.text


def test_a_public_service_is_announced_loudly(boss: WebUser, quiet_org: Org) -> None:
    enabled = boss.post(page_url(quiet_org), {"service_type": "edr", "is_public": "true"})
    assert enabled.status_code == 303
    page = boss.get(page_url(quiet_org))
    assert "is PUBLIC: anyone, without a token, can read every repo of org" in page.text
    [name] = services_of(quiet_org)
    assert name.startswith("edr-") and services_of(quiet_org)[name]["config"]["is_public"]
    assert "PUBLIC: no token needed" in page.text


def test_a_member_sees_services_without_controls_and_is_refused(
    boss: WebUser, quiet_service: ArraylakeService, quiet_org: Org
) -> None:
    assert (
        boss.post(page_url(quiet_org), {"service_type": "wms", "deployment_name": "maps"}).status_code == 303
    )
    member = web_user(quiet_service, quiet_org.name, "member", "member")
    try:
        page = member.get(page_url(quiet_org))
        assert page.status_code == 200 and 'id="service-maps"' in page.text
        assert 'id="enable-service"' not in page.text and 'id="disable-maps"' not in page.text
        assert 'id="logs-maps"' in page.text
        assert member.get(f"{page_url(quiet_org)}/maps/logs").status_code == 200
        refused = member.post(page_url(quiet_org), {"service_type": "zarr", "deployment_name": "mine"})
        assert refused.status_code == 403 and "does not allow you to" in refused.text
        assert member.post(f"{page_url(quiet_org)}/maps/disable", {"confirm": "true"}).status_code == 403
        assert set(services_of(quiet_org)) == {"maps"}
    finally:
        member.close()
    stranger = web_user(quiet_service, None, "admin", "stranger")
    try:
        assert stranger.get(page_url(quiet_org)).status_code == 404
    finally:
        stranger.close()


def test_logs_page_and_fragment(boss: WebUser, quiet_service: ArraylakeService, quiet_org: Org) -> None:
    assert (
        boss.post(page_url(quiet_org), {"service_type": "edr", "deployment_name": "talky"}).status_code == 303
    )
    url = f"{page_url(quiet_org)}/talky/logs"
    quiet = boss.get(url)
    assert quiet.status_code == 200 and 'id="no-log-lines"' in quiet.text

    book = Logbook(quiet_service.data_dir, row_of(quiet_org, "talky").id)
    for i in range(250):
        book.write("stdout", f"line number {i} <b>")
    page = boss.get(url)
    assert page.status_code == 200 and 'id="log-lines"' in page.text and 'id="refresh-logs"' in page.text
    assert "line number 249 &lt;b&gt;" in page.text and "line number 50 " in page.text
    assert "line number 49 " not in page.text  # only the last 200
    assert 'hx-trigger="every 5s"' in page.text

    fragment = boss.get(url, headers={"hx-request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert 'id="log-lines"' in fragment.text and "line number 249" in fragment.text

    missing = boss.get(f"{page_url(quiet_org)}/nothing/logs")
    assert missing.status_code == 404 and "has no compute service named" in missing.text


def test_bad_input_changes_nothing(boss: WebUser, quiet_org: Org) -> None:
    url = page_url(quiet_org)
    huge = boss.post(url, {"service_type": "zarr", "sku_code": "huge"})
    assert huge.status_code == 422 and "unknown sku_code &#39;huge&#39;" in huge.text
    region = boss.post(url, {"service_type": "zarr", "region": "mars"})
    assert region.status_code == 422 and "unknown region &#39;mars&#39;" in region.text
    protocol = boss.post(url, {"service_type": "ftp"})
    assert protocol.status_code == 422 and "service_type" in protocol.text
    replicas = boss.post(url, {"service_type": "zarr", "min_replicas": "5", "max_replicas": "2"})
    assert replicas.status_code == 422 and "min_replicas (5) exceeds max_replicas (2)" in replicas.text
    words = boss.post(url, {"service_type": "zarr", "min_replicas": "many"})
    assert words.status_code == 422 and "give a whole number" in words.text
    name = boss.post(url, {"service_type": "zarr", "deployment_name": "Not_Valid"})
    assert name.status_code == 422 and "deployment_name must be 1-16 characters" in name.text
    assert services_of(quiet_org) == {}

    forged = boss.http.post(url, data={"service_type": "zarr"})
    assert forged.status_code == 403 and services_of(quiet_org) == {}


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_a_running_service_shows_available(service: ArraylakeService, org: Org, admin: WebUser) -> None:
    """On a service that supervises its deployments: the page shows the one it really runs as available."""
    url = page_url(org)
    form = {"service_type": "zarr", "deployment_name": "live", "sku_code": "xs", "max_replicas": "1"}
    assert admin.post(url, form).status_code == 303
    try:
        deadline = time.monotonic() + 240
        status = ""
        while time.monotonic() < deadline:
            fragment = admin.get(f"{url}/services", headers={"hx-request": "true"})
            assert fragment.status_code == 200
            if 'class="badge available">available<' in fragment.text:
                status = "available"
                break
            time.sleep(2)
        assert status == "available", services_of(org)
        logs = admin.get(f"{url}/live/logs")
        assert logs.status_code == 200 and "[supervisor]" in logs.text
    finally:
        admin.post(f"{url}/live/disable", {"confirm": "true"})
    assert services_of(org) == {}
