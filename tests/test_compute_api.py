"""The compute control plane (``/compute/orgs/{org}/...``) of a real service, on SQLite and PostgreSQL: the
hosted dialect of both published client lines (the 0.15 payload with every field, the 1.7 one with only the
set fields), deployment names, public services, updates, disabling, logs, regions and SKUs, who may, and
bad input answered with a 4xx and a detail, changing nothing.

The supervisor may be running the deployments these tests enable: no test here waits for a status other
than the one the API itself writes; statuses are only checked to be ones of ``ServiceStatus``.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Row

from arraylake.server.compute import records
from arraylake.server.compute.logbook import Logbook
from arraylake.server.compute.skus import DEFAULT_SKU, SKUS
from arraylake.server.db.engine import make_engine
from arraylake.server.orgs.service import org_id_by_name
from arraylake.types.compute import DeploymentInfo, ServiceConfig, ServiceStatus, ServiceType
from tests.conftest import make_service
from tests.support.service import ArraylakeService, Org

STATUSES = {status.value for status in ServiceStatus}
REGIONS = "eu-north,us-east"


# ------------------------------------------------------------------------------------------- helpers


class Compute:
    """The compute control plane of one org, called with one token."""

    def __init__(self, org: Org, token: str | None = None, headers: dict[str, str] | None = None):
        auth = {"authorization": f"Bearer {token or org.token}"} if token != "" else {}
        self.org = org
        self.http = httpx.Client(base_url=org.url, headers={**auth, **(headers or {})}, timeout=60)
        self.base = f"/compute/orgs/{org.name}"

    def enable(self, **body: Any) -> httpx.Response:
        return self.http.post(
            f"{self.base}/services", json={"org": self.org.name, "is_public": False, **body}
        )

    def enabled(self, **body: Any) -> DeploymentInfo:
        response = self.enable(**body)
        assert response.status_code == 201, response.text
        return DeploymentInfo.model_validate(response.json()["deployment"])

    def listed(self) -> list[dict[str, Any]]:
        response = self.http.get(f"{self.base}/services")
        assert response.status_code == 200, response.text
        return response.json()

    def names(self) -> list[str]:
        return [d["name"] for d in self.listed()]

    def status(self, name: str) -> httpx.Response:
        return self.http.get(f"{self.base}/services/{name}")

    def update(self, name: str, **kwargs: Any) -> httpx.Response:
        return self.http.patch(f"{self.base}/services/{name}", **kwargs)

    def disable(self, name: str) -> httpx.Response:
        return self.http.delete(f"{self.base}/services/{name}")

    def logs(self, name: str, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.base}/services/{name}/logs", params=params)

    def api_clients(self) -> dict[str, dict[str, Any]]:
        response = self.http.get(f"/orgs/{self.org.name}/api-clients")
        assert response.status_code == 200, response.text
        return {c["name"]: c for c in response.json()}

    def close(self) -> None:
        for name in self.names():
            assert self.disable(name).status_code == 200
        self.http.close()


def catalog(service: ArraylakeService, work: Callable[[Any], Any], *, write: bool = False) -> Any:
    """Run ``work(conn)`` on the service's catalog database (to see what the API recorded)."""

    async def go() -> Any:
        engine = make_engine(service.settings.resolved_database_url)
        try:
            async with engine.begin() if write else engine.connect() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def row_of(org: Org, name: str) -> Row:
    async def work(conn: Any) -> Row:
        org_id = await org_id_by_name(conn, org.name)
        assert org_id is not None, org.name
        found = await records.service_row(conn, org_id, name)
        assert found is not None, name
        return found

    return catalog(org.service, work)


def observe(org: Org, name: str, **values: Any) -> None:
    """Record a status as the supervisor would (only on a service that supervises nothing)."""
    service_id = row_of(org, name).id
    catalog(org.service, lambda conn: records.observe(conn, service_id, **values), write=True)


def refused(response: httpx.Response, status: int, phrase: str) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail and phrase in str(detail), detail
    return str(detail)


@pytest.fixture
def compute(org: Org) -> Iterator[Compute]:
    """The org admin's control plane; every deployment still enabled at the end is disabled."""
    admin = Compute(org)
    yield admin
    admin.close()


@pytest.fixture(scope="module")
def quiet_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArraylakeService]:
    """A service that supervises nothing (its deployments run elsewhere, if at all), in two regions: what
    the API records stays as it wrote it, and logs hold only what a test writes."""
    env = {"ARRAYLAKE_SERVER_COMPUTE_SUPERVISE": "false", "ARRAYLAKE_SERVER_COMPUTE_REGIONS": REGIONS}
    service = make_service(tmp_path_factory.mktemp("quiet"), "sqlite", request, env)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def quiet(quiet_service: ArraylakeService) -> Iterator[Compute]:
    admin = Compute(quiet_service.new_org("quiet"))
    yield admin
    admin.close()


# ------------------------------------------------------------------------------------- enabling


def test_enable_with_the_1_7_payload(compute: Compute) -> None:
    """The 1.7 client posts only the fields it sets: the protocol, org, is_public and a SKU."""
    before = datetime.now(UTC) - timedelta(seconds=5)
    response = compute.http.post(
        f"{compute.base}/services",
        json={"service_type": "edr", "org": compute.org.name, "is_public": False, "sku_code": "m"},
    )
    assert response.status_code == 201, response.text
    answer = response.json()
    info = DeploymentInfo.model_validate(answer["deployment"])
    assert re.fullmatch(r"edr-[0-9a-f]{7}", info.name), info.name
    assert info.url == f"{compute.org.url}/v1/services/{info.name}"
    assert before <= info.created <= datetime.now(UTC) + timedelta(seconds=5)
    assert info.status.value in STATUSES
    assert (info.region, info.config.region, info.config.sku_code) == ("local", "local", "m")
    assert (info.config.min_replicas, info.config.max_replicas) == (1, 24)
    assert (info.config.deployment_name, info.config.org) == (info.name, compute.org.name)
    assert info.config.is_public is False
    message = answer["message"]
    assert info.name in message and f"{info.url}/{compute.org.name}/" in message and message.endswith("/edr")
    assert "PUBLIC" not in message

    listed = compute.listed()
    assert [d["name"] for d in listed] == [info.name]
    status = compute.status(info.name).json()
    for listing in (listed[0], status):
        assert listing["status"] in STATUSES
        assert {k: listing[k] for k in ("name", "url", "created", "config", "region")} == {
            k: answer["deployment"][k] for k in ("name", "url", "created", "config", "region")
        }


def test_enable_with_the_0_15_payload(compute: Compute) -> None:
    """The 0.15 client posts its whole ServiceConfig, defaults included, with its own field names."""
    body = {
        "service_type": "dap2",
        "org": compute.org.name,
        "is_public": False,
        "service_version": None,
        "replicas": 2,
        "cache_ttl": 30,
        "cache_size": 5,
    }
    response = compute.http.post(f"{compute.base}/services", json=body)
    assert response.status_code == 201, response.text
    info = DeploymentInfo.model_validate(response.json()["deployment"])
    assert info.name.startswith("dap2-") and response.json()["message"].endswith("/opendap")
    config = info.config
    assert (config.min_replicas, config.store_cache_ttl, config.store_cache_size) == (2, 30, 5)
    assert (config.sku_code, config.region) == (DEFAULT_SKU, "local")  # the 0.15 client sends neither
    assert compute.names() == [info.name]


def test_deployment_names_allow_several_services_per_protocol(compute: Compute) -> None:
    test = compute.enabled(service_type="edr", deployment_name="edr-test", sku_code="xs")
    prod = compute.enabled(service_type="edr", deployment_name="edr-prod")
    assert compute.names() == ["edr-test", "edr-prod"]
    assert test.url.endswith("/v1/services/edr-test") and prod.url.endswith("/v1/services/edr-prod")
    # str(config): "{type}://{org}", with the deployment name appended when there is one
    assert str(test.config) == f"edr://{compute.org.name}/edr-test"
    assert (
        str(ServiceConfig(service_type=ServiceType.EDR, org=compute.org.name)) == f"edr://{compute.org.name}"
    )

    again = compute.enable(service_type="wms", deployment_name="edr-test", sku_code="l")
    detail = refused(again, 409, "already has an enabled service named edr-test")
    assert "disable" in detail
    assert compute.status("edr-test").json()["config"]["sku_code"] == "xs"  # unchanged
    assert compute.names() == ["edr-test", "edr-prod"]


def test_a_disabled_name_is_enabled_again_with_its_new_config(compute: Compute) -> None:
    first = compute.enabled(service_type="zarr", deployment_name="data", sku_code="xs")
    assert compute.disable("data").status_code == 200
    assert compute.names() == []
    second = compute.enabled(service_type="wms", deployment_name="data", sku_code="m", min_replicas=2)
    assert (second.config.service_type, second.config.sku_code, second.config.min_replicas) == ("wms", "m", 2)
    assert second.created == first.created  # the same deployment: its logs carry on
    assert compute.names() == ["data"]
    assert row_of(compute.org, "data").desired == records.RUNNING


BAD_ENABLES: list[tuple[dict[str, Any], str]] = [
    ({"service_type": "openeo"}, "'dap2', 'edr', 'wms', 'zarr' or 'tiles'"),
    ({"service_type": "sql"}, "'dap2', 'edr', 'wms', 'zarr' or 'tiles'"),
    ({"service_type": None}, "service_type"),
    ({"service_type": "edr", "org": "another-org"}, "must match"),
    ({"service_type": "edr", "sku_code": "xxl"}, "this service offers xs, s, m, l"),
    ({"service_type": "edr", "sku_code": ""}, "this service offers xs, s, m, l"),
    ({"service_type": "edr", "region": "mars"}, "this service offers local"),
    ({"service_type": "edr", "deployment_name": "Edr_1"}, "deployment_name"),
    ({"service_type": "edr", "deployment_name": "a" * 17}, "deployment_name"),
    ({"service_type": "edr", "deployment_name": "-edr"}, "deployment_name"),
    ({"service_type": "edr", "deployment_name": ""}, "deployment_name"),
    ({"service_type": "edr", "min_replicas": 3, "max_replicas": 2}, "exceeds max_replicas"),
    ({"service_type": "edr", "min_replicas": 30}, "min_replicas (30) exceeds max_replicas (24)"),
    ({"service_type": "edr", "min_replicas": -1}, "min_replicas"),
    ({"service_type": "edr", "max_replicas": 0}, "max_replicas"),
    ({"service_type": "edr", "is_public": "maybe"}, "is_public"),
    ({"service_type": "edr", "log_level": "LOUD"}, "log_level"),
    ({"service_type": "edr", "service_version": "1\u0000"}, "NUL"),
]


def test_bad_enables_change_nothing(compute: Compute) -> None:
    clients = compute.api_clients()
    for body, phrase in BAD_ENABLES:
        refused(compute.enable(**{"is_public": True, **body}), 422, phrase)
    for content in (b"{", b"[]", b'"edr"', b""):
        response = compute.http.post(f"{compute.base}/services", content=content)
        assert response.status_code == 422 and response.json()["detail"], (content, response.text)
    assert compute.names() == []
    assert compute.api_clients() == clients  # no public reader was made for any of them


def test_concurrent_enables_of_one_name(compute: Compute) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: compute.enable(service_type="zarr", deployment_name="racy").status_code, range(4)
            )
        )
    assert sorted(answers) == [201, 409, 409, 409]
    assert compute.names() == ["racy"]


# ---------------------------------------------------------------------------------------------- public


def test_a_public_service_says_so_loudly_and_reads_as_an_api_client_of_the_org(compute: Compute) -> None:
    response = compute.enable(service_type="tiles", is_public=True)
    assert response.status_code == 201, response.text
    info = DeploymentInfo.model_validate(response.json()["deployment"])
    message = response.json()["message"]
    assert message.startswith("WARNING") and "PUBLIC" in message, message
    assert (
        f"anyone, without a token, can read every repo of org {compute.org.name} through {info.url}"
        in message
    )
    assert info.config.is_public is True

    reader = compute.api_clients()[f"compute service {info.name} (public reader)"]
    assert reader["role"] == "repo_reader" and reader["disabled_at"] is None
    warned = [line for line in compute.org.service.log_text().splitlines() if info.name in line]
    assert any("compute service is public" in line and '"level": "warning"' in line for line in warned), (
        warned
    )
    assert row_of(compute.org, info.name).reader_id == reader["_id"]

    disabled = compute.disable(info.name)
    assert disabled.status_code == 200 and "anonymous access ended" in disabled.json()["message"]
    reader = compute.api_clients()[f"compute service {info.name} (public reader)"]
    assert reader["disabled_at"] is not None
    assert all(token["revoked_at"] is not None for token in reader["tokens"])
    assert row_of(compute.org, info.name).reader_id is None


# ---------------------------------------------------------------------------------------------- update


def test_update_changes_only_the_given_fields_and_restarts(compute: Compute) -> None:
    info = compute.enabled(service_type="edr", sku_code="xs", min_replicas=1, max_replicas=4)
    generation = row_of(compute.org, info.name).generation

    response = compute.update(info.name, json={"sku_code": "m"})
    assert response.status_code == 200, response.text
    changed = DeploymentInfo.model_validate(response.json())
    assert (changed.config.sku_code, changed.config.min_replicas, changed.config.max_replicas) == ("m", 1, 4)
    assert changed.status.value in STATUSES and changed.created == info.created
    assert row_of(compute.org, info.name).generation == generation + 1  # the supervisor restarts it

    response = compute.update(info.name, json={"min_replicas": 0, "max_replicas": 2})
    assert response.status_code == 200, response.text
    config = compute.status(info.name).json()["config"]
    assert (config["sku_code"], config["min_replicas"], config["max_replicas"]) == ("m", 0, 2)
    assert row_of(compute.org, info.name).generation == generation + 2

    assert compute.update(info.name, json={"sku_code": "m"}).status_code == 200
    assert row_of(compute.org, info.name).generation == generation + 2  # nothing changed: no restart


def test_bad_updates_change_nothing(compute: Compute) -> None:
    info = compute.enabled(service_type="edr", sku_code="xs", min_replicas=1, max_replicas=3)
    generation = row_of(compute.org, info.name).generation
    for body, phrase in [
        ({}, "nothing to change"),
        ({"region": "local"}, "nothing to change"),
        ({"sku_code": None}, "sku_code may not be null"),
        ({"min_replicas": None, "max_replicas": 2}, "min_replicas may not be null"),
        ({"max_replicas": None}, "max_replicas may not be null"),
        ({"sku_code": "xxl"}, "this service offers xs, s, m, l"),
        ({"sku_code": ""}, "this service offers xs, s, m, l"),
        ({"min_replicas": 5}, "min_replicas (5) exceeds max_replicas (3)"),
        ({"max_replicas": 0}, "max_replicas"),
        ({"min_replicas": -1}, "min_replicas"),
        ({"min_replicas": "many"}, "min_replicas"),
    ]:
        refused(compute.update(info.name, json=body), 422, phrase)
    refused(compute.update(info.name, content=b"{"), 422, "")
    config = compute.status(info.name).json()["config"]
    assert (config["sku_code"], config["min_replicas"], config["max_replicas"]) == ("xs", 1, 3)
    assert row_of(compute.org, info.name).generation == generation

    assert compute.disable(info.name).status_code == 200
    refused(compute.update(info.name, json={"sku_code": "m"}), 409, "is disabled: enable it again")
    refused(compute.update("nope", json={"sku_code": "m"}), 404, f"its services are {info.name} (disabled)")


# --------------------------------------------------------------------------------------------- disable


def test_disable_stops_a_service_whose_status_and_logs_stay_readable(compute: Compute) -> None:
    info = compute.enabled(service_type="wms")
    other = compute.enabled(service_type="wms")
    response = compute.disable(info.name)
    assert response.status_code == 200, response.text
    assert response.json()["message"].startswith(
        f"wms service {info.name} of org {compute.org.name} disabled"
    )
    assert compute.names() == [other.name]
    assert row_of(compute.org, info.name).desired == records.STOPPED

    status = compute.status(info.name)
    assert status.status_code == 200 and status.json()["name"] == info.name
    assert status.json()["status"] in STATUSES
    assert compute.logs(info.name).status_code == 200

    refused(
        compute.disable(info.name), 409, f"service {info.name} of org {compute.org.name} is already disabled"
    )
    detail = refused(
        compute.disable("nope"), 404, f"org {compute.org.name} has no compute service named 'nope'"
    )
    assert f"{info.name} (disabled)" in detail and other.name in detail


def test_unknown_names_are_404_naming_the_org_services(compute: Compute) -> None:
    phrase = f"org {compute.org.name} has no compute service named 'nope'; it has none"
    for response in (compute.status("nope"), compute.logs("nope"), compute.logs("nope", tail=1)):
        refused(response, 404, phrase)
    info = compute.enabled(service_type="zarr")
    refused(compute.status("nope"), 404, f"its services are {info.name}")


# ------------------------------------------------------------------------------------------------ logs


def test_logs_in_both_dialects(compute: Compute) -> None:
    info = compute.enabled(service_type="zarr")
    book = Logbook(compute.org.service.data_dir, row_of(compute.org, info.name).id)
    mine = [f"api-test line {i}" for i in range(3)]
    for line in mine:
        book.write("stdout", line)

    legacy = compute.logs(info.name)  # the 0.15 client: no parameters, a JSON string
    assert legacy.status_code == 200 and legacy.headers["content-type"] == "application/json"
    text = legacy.json()
    assert isinstance(text, str)
    assert [line.split(" stdout F ")[1] for line in text.splitlines() if "api-test" in line] == mine

    lines = compute.logs(info.name, follow_timeout=30)  # the 1.7 client always sends follow_timeout
    assert lines.headers["content-type"].startswith("text/plain")
    found = [line for line in lines.text.splitlines() if "api-test" in line]
    assert [line.split(" ", 3)[3] for line in found] == mine
    for line in found:
        stamp, stream, full, _ = line.split(" ", 3)
        assert datetime.fromisoformat(stamp) and (stream, full) == ("stdout", "F")


def test_following_logs_streams_new_lines(compute: Compute) -> None:
    info = compute.enabled(service_type="zarr")
    book = Logbook(compute.org.service.data_dir, row_of(compute.org, info.name).id)
    book.write("stdout", "before following")
    late = threading.Timer(1.0, lambda: book.write("stderr", "written while followed"))
    started = time.monotonic()
    late.start()
    try:
        with compute.http.stream(
            "GET", f"{compute.base}/services/{info.name}/logs", params={"follow": "True", "follow_timeout": 3}
        ) as response:
            assert response.status_code == 200
            seen = [(time.monotonic() - started, line) for line in response.iter_lines()]
    finally:
        late.cancel()
    texts = [line for _, line in seen]
    assert any(line.endswith("stdout F before following") for line in texts), texts
    arrived = [at for at, line in seen if line.endswith("stderr F written while followed")]
    assert arrived and arrived[0] < 2.9, seen  # as it was written, not when following ended
    assert 2.5 < time.monotonic() - started < 10


def test_log_windows(quiet: Compute) -> None:
    info = quiet.enabled(service_type="edr")
    book = Logbook(quiet.org.service.data_dir, row_of(quiet.org, info.name).id)
    marks = []
    for i in range(5):
        book.write("stdout", f"line {i}")
        time.sleep(0.02)
        marks.append(datetime.now(UTC))
        time.sleep(0.02)

    def messages(**params: Any) -> list[str]:
        response = quiet.logs(info.name, **params)
        assert response.status_code == 200, response.text
        return [line.split(" ", 3)[3] for line in response.text.splitlines()]

    every = [f"line {i}" for i in range(5)]
    assert quiet.logs(info.name).json().splitlines()[-1].endswith("line 4")
    assert messages(follow_timeout=30) == every
    assert messages(tail=2) == every[3:]
    assert messages(tail=0) == []
    assert messages(since=marks[2].isoformat()) == every[3:]
    assert messages(until=marks[1].isoformat()) == every[:2]
    assert messages(since=marks[0].isoformat(), until=marks[2].isoformat(), tail=1) == ["line 2"]
    naive = marks[2].replace(tzinfo=None).isoformat()  # a time without a zone is UTC
    assert messages(since=naive) == every[3:]
    assert messages(follow="true", follow_timeout=1, tail=1) == ["line 4"]

    bad: list[tuple[dict[str, Any], str]] = [
        ({"tail": -1}, "tail"),
        ({"tail": "all"}, "tail"),
        ({"follow_timeout": 0}, "follow_timeout"),
        ({"follow_timeout": 601}, "follow_timeout"),
        ({"follow": "sometimes"}, "follow"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": marks[3].isoformat(), "until": marks[1].isoformat()}, "is after until"),
    ]
    for params, phrase in bad:
        refused(quiet.logs(info.name, **params), 422, phrase)


# --------------------------------------------------------------------------------- regions and SKUs


def test_regions_and_skus(compute: Compute) -> None:
    regions = compute.http.get(f"{compute.base}/regions")
    assert regions.json() == [{"name": "local", "location": None, "default": True}]
    skus = compute.http.get(f"{compute.base}/skus")
    assert skus.json() == [sku.model_dump(mode="json") for sku in SKUS.values()]
    assert DEFAULT_SKU in SKUS


def test_an_installation_with_several_regions(quiet: Compute) -> None:
    regions = quiet.http.get(f"{quiet.base}/regions").json()
    assert regions == [
        {"name": "eu-north", "location": None, "default": True},
        {"name": "us-east", "location": None, "default": False},
    ]
    assert quiet.enabled(service_type="edr").region == "eu-north"
    assert quiet.enabled(service_type="edr", region="us-east").config.region == "us-east"
    refused(quiet.enable(service_type="edr", region="local"), 422, "this service offers eu-north, us-east")


# ------------------------------------------------------------------------------ the clients' dialects


def test_listings_that_each_client_can_parse(quiet: Compute) -> None:
    """The 0.15 client knows four statuses and no tiles: its listing maps a sleeping deployment to
    ``available`` and leaves tiles ones out; the 1.7 client and ours get everything as it is."""
    edr = quiet.enabled(service_type="edr")
    tiles = quiet.enabled(service_type="tiles")
    observe(quiet.org, edr.name, status=ServiceStatus.SLEEPING.value)

    def listing(version: str | None) -> dict[str, str]:
        headers = {"client-name": "arraylake-python-client", "client-version": version} if version else {}
        response = quiet.http.get(f"{quiet.base}/services", headers=headers)
        assert response.status_code == 200, response.text
        return {d["name"]: d["status"] for d in response.json()}

    assert listing("0.15.0") == {edr.name: "available"}
    assert listing("1.7.0") == {edr.name: "sleeping", tiles.name: "progressing"}
    assert listing(None) == {edr.name: "sleeping", tiles.name: "progressing"}
    observe(quiet.org, edr.name, status=ServiceStatus.QUOTA_EXCEEDED.value)
    assert listing("0.15.0") == {edr.name: "unknown"}
    assert listing("0.23.1") == {edr.name: "unknown", tiles.name: "progressing"}


def test_the_0_15_client_reads_its_own_field_names(quiet: Compute) -> None:
    """Before 0.18 the hosted client called ``min_replicas`` ``replicas`` and the dataset cache's settings
    ``cache_ttl`` and ``cache_size``: its listing carries those names too."""
    info = quiet.enabled(service_type="dap2", min_replicas=2, store_cache_ttl=30, store_cache_size=5)
    headers = {"client-name": "arraylake-python-client", "client-version": "0.15.0"}
    [config] = [d["config"] for d in quiet.http.get(f"{quiet.base}/services", headers=headers).json()]
    assert {k: config[k] for k in ("replicas", "cache_ttl", "cache_size", "min_replicas")} == {
        "replicas": 2,
        "cache_ttl": 30,
        "cache_size": 5,
        "min_replicas": 2,
    }
    [ours] = quiet.listed()
    assert "replicas" not in ours["config"] and ours["name"] == info.name


# ------------------------------------------------------------------------------------------- who may


def new_client(org: Org, role: str) -> str:
    response = httpx.post(
        f"{org.url}/orgs/{org.name}/api-clients",
        json={"name": f"compute-{role}", "role": role},
        headers={"authorization": f"Bearer {org.token}"},
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]["token"]


def test_admins_manage_members_view_outsiders_see_nothing(
    compute: Compute, service: ArraylakeService
) -> None:
    info = compute.enabled(service_type="edr", sku_code="xs")
    outsider = service.new_org("outside")
    callers = {
        "member": (Compute(compute.org, new_client(compute.org, "member")), 403),
        "writer": (Compute(compute.org, new_client(compute.org, "repo_writer")), 403),
        "outsider": (Compute(compute.org, outsider.token), 404),
        "anonymous": (Compute(compute.org, ""), 401),
    }
    for who, (caller, refusal) in callers.items():
        reads = [
            caller.http.get(f"{caller.base}/services"),
            caller.status(info.name),
            caller.logs(info.name),
            caller.logs(info.name, tail=5),
            caller.http.get(f"{caller.base}/regions"),
            caller.http.get(f"{caller.base}/skus"),
        ]
        if refusal == 403:
            assert all(r.status_code == 200 for r in reads), (who, [r.text for r in reads])
        else:
            for response in reads:
                refused(response, refusal, "not found" if refusal == 404 else "token")
        changes = [
            caller.enable(service_type="edr", deployment_name=f"by-{who}"),
            caller.update(info.name, json={"sku_code": "m"}),
            caller.disable(info.name),
        ]
        for response in changes:
            detail = refused(response, refusal, "")
            if refusal == 403:
                assert "does not allow you to enable, change or disable compute services" in detail, detail
            elif refusal == 404:
                assert detail == f"org {compute.org.name} not found"
        caller.http.close()
    assert compute.names() == [info.name]
    assert compute.status(info.name).json()["config"]["sku_code"] == "xs"


def test_hosted_operator_endpoints_are_not_part_of_this_service(compute: Compute) -> None:
    for method, path in (("GET", "/compute/config"), ("GET", "/compute/dump"), ("POST", "/compute/load")):
        assert compute.http.request(method, path, json={}).status_code == 404
