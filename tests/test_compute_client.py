"""``Client.get_services`` / ``AsyncClient.get_services`` against a live service: the compute clients enable,
list, inspect, read logs of, resize and disable services, and the service's refusals reach the caller with
their detail.

Only :func:`test_wait_until_ready_returns_the_running_service` waits for a deployment's processes to answer;
the others read whatever state the supervisor has reached.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from arraylake import AsyncClient, Client
from arraylake.compute import (
    AsyncComputeClient,
    ComputeClient,
    DeploymentInfo,
    ServiceNotReadyError,
    ServiceStartTimeoutError,
    ServiceStatus,
)
from arraylake.compute import services as hosted_module
from arraylake.exceptions import (
    ArraylakeConflictError,
    ArraylakeNotFoundError,
    ArraylakePermissionError,
    ArraylakeValidationError,
    InvalidNameError,
)
from tests.support.service import ArraylakeService, Org

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+ (stdout|stderr) [FP] ")


def services_of(service: ArraylakeService, org: Org) -> ComputeClient:
    return Client(service.url, token=org.token).get_services(org.name)


def wait_for(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while (found := check()) is None or found is False:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
    return found


def test_hosted_module_names_the_same_classes() -> None:
    assert hosted_module.ComputeClient is ComputeClient
    assert hosted_module.AsyncComputeClient is AsyncComputeClient


def test_sync_life_cycle(service: ArraylakeService, org: Org) -> None:
    services = services_of(service, org)
    assert isinstance(services, ComputeClient) and services.org == org.name
    assert org.name in repr(services)

    regions = services.regions()
    assert [r.default for r in regions].count(True) == 1
    default_region = next(r.name for r in regions if r.default)
    assert {"xs", "s", "m", "l"} <= {s.code for s in services.skus()}
    assert services.list_enabled() == []

    answer = services.enable("edr", sku_code="xs", deployment_name="edr-a")
    assert "edr-a" in answer["message"]
    (listed,) = services.list_enabled()
    assert isinstance(listed, DeploymentInfo) and listed.name == "edr-a"
    assert listed.config.sku_code == "xs" and listed.region == default_region
    assert listed.config.is_public is False and str(listed.config) == f"edr://{org.name}/edr-a"
    assert listed.status in set(ServiceStatus)
    status = services.get_status("edr-a")
    assert status["name"] == "edr-a" and status["config"]["service_type"] == "edr"

    resized = services.update("edr-a", max_replicas=3)
    assert isinstance(resized, DeploymentInfo)
    assert (resized.config.min_replicas, resized.config.max_replicas) == (1, 3)
    assert resized.config.sku_code == "xs"
    resized = services.update("edr-a", sku_code="m", min_replicas=2)
    assert (resized.config.sku_code, resized.config.min_replicas, resized.config.max_replicas) == ("m", 2, 3)
    with pytest.raises(ValueError, match="at least one of"):
        services.update("edr-a")

    # the supervisor says what it does with the deployment in its log
    logs = wait_for(lambda: services.get_logs("edr-a") or None, 30, "the first log lines")
    assert all(LOG_LINE.match(line) for line in logs.splitlines()), logs
    assert "[supervisor]" in logs
    assert len(services.get_logs("edr-a", tail=1).splitlines()) == 1
    assert list(services.stream_logs("edr-a", tail=1)) == services.get_logs("edr-a", tail=1).splitlines()
    assert services.get_logs("edr-a", since="2999-01-01T00:00:00Z") == ""

    gone = services.disable("edr-a")
    assert "edr-a" in gone["message"]
    assert services.list_enabled() == []
    assert services.get_status("edr-a")["name"] == "edr-a"  # still readable
    with pytest.raises(ArraylakeConflictError, match="already disabled"):
        services.disable("edr-a")


def test_async_client(service: ArraylakeService, org: Org) -> None:
    async def scenario() -> None:
        client = AsyncClient(service.url, token=org.token)
        services = client.get_services(org.name)
        assert isinstance(services, AsyncComputeClient)
        try:
            answer = await services.enable("dap2", deployment_name="dap-b")  # no SKU: the service's default
            deployment = DeploymentInfo.model_validate(answer["deployment"])
            assert deployment.config.sku_code == "s" and deployment.config.service_type == "dap2"
            assert [d.name for d in await services.list_enabled()] == ["dap-b"]
            direct = AsyncComputeClient(service.url, org.token, org.name)  # as 0.15 built it
            assert [d.name for d in await direct.list_enabled()] == ["dap-b"]
            assert (await services.get_status("dap-b"))["config"]["sku_code"] == "s"

            started = time.monotonic()
            followed = [line async for line in services.stream_logs("dap-b", follow=True, follow_timeout=2)]
            assert 1.5 < time.monotonic() - started < 30
            assert all(LOG_LINE.match(line) for line in followed) and followed
            assert await services.get_logs("dap-b", tail=2) == "\n".join(
                [line async for line in services.stream_logs("dap-b", tail=2)]
            )

            resized = await services.update("dap-b", max_replicas=2)
            assert resized.config.max_replicas == 2
            assert {r.name for r in await services.regions()}
            assert "message" in await services.disable("dap-b")
            assert await services.list_enabled() == []
        finally:
            await client.aclose()

    asyncio.run(scenario())


def test_refusals_carry_the_service_detail_and_change_nothing(service: ArraylakeService, org: Org) -> None:
    services = services_of(service, org)
    with pytest.raises(ArraylakeValidationError, match="xs") as unknown_sku:
        services.enable("edr", sku_code="huge")
    assert unknown_sku.value.status_code == 422 and "huge" in str(unknown_sku.value)
    with pytest.raises(ArraylakeValidationError, match="local"):
        services.enable("edr", region="mars")
    # refused before anything is sent
    with pytest.raises(TypeError, match="max_replicas_typo"):
        services.enable("edr", max_replicas_typo=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="ftp"):
        services.enable("ftp")
    with pytest.raises(ValueError, match="deployment_name"):
        services.enable("edr", deployment_name="Not_A_Name")
    with pytest.raises(ValueError, match="exceeds"):
        services.enable("edr", min_replicas=5, max_replicas=2)
    with pytest.raises(InvalidNameError):
        Client(service.url, token=org.token).get_services("not an org!")
    assert services.list_enabled() == []

    with pytest.raises(ArraylakeNotFoundError, match="nope"):
        services.get_status("nope")
    with pytest.raises(ArraylakeNotFoundError):
        services.get_logs("nope")
    with pytest.raises(ArraylakeNotFoundError):
        services.disable("nope")

    services.enable("wms", sku_code="xs", deployment_name="wms-c", min_replicas=1, max_replicas=2)
    try:
        with pytest.raises(ArraylakeConflictError, match="wms-c"):
            services.enable("wms", deployment_name="wms-c")
        with pytest.raises(ArraylakeValidationError, match="exceeds"):
            services.update("wms-c", min_replicas=3)
        with pytest.raises(ArraylakeValidationError, match="xs"):
            services.update("wms-c", sku_code="huge")
        with pytest.raises(ArraylakeValidationError):
            list(services.stream_logs("wms-c", follow=True, follow_timeout=601))
        (kept,) = services.list_enabled()
        assert (kept.config.sku_code, kept.config.min_replicas, kept.config.max_replicas) == ("xs", 1, 2)
    finally:
        services.disable("wms-c")


def test_members_read_and_admins_manage(service: ArraylakeService, org: Org) -> None:
    admin = Client(service.url, token=org.token)
    viewer = admin.create_api_client(org.name, "compute-viewer", role="member")
    services = Client(service.url, token=viewer.token.token.get_secret_value()).get_services(org.name)
    admin.get_services(org.name).enable("zarr", sku_code="xs", deployment_name="zarr-d")
    try:
        assert [d.name for d in services.list_enabled()] == ["zarr-d"]
        assert services.get_status("zarr-d")["name"] == "zarr-d"
        assert isinstance(services.get_logs("zarr-d"), str)
        for refused in (
            lambda: services.enable("edr", sku_code="xs"),
            lambda: services.update("zarr-d", max_replicas=2),
            lambda: services.disable("zarr-d"),
        ):
            with pytest.raises(ArraylakePermissionError) as caught:
                refused()
            assert caught.value.status_code == 403 and caught.value.detail
        assert [d.name for d in services.list_enabled()] == ["zarr-d"]
    finally:
        admin.get_services(org.name).disable("zarr-d")
    outsider = service.new_org("outsider")
    with pytest.raises(ArraylakeNotFoundError):
        Client(service.url, token=outsider.token).get_services(org.name).list_enabled()


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_wait_until_ready_returns_the_running_service(service: ArraylakeService, org: Org) -> None:
    services = services_of(service, org)
    services.enable("edr", sku_code="xs", deployment_name="edr-ready")
    try:
        with pytest.raises(ServiceStartTimeoutError, match="still progressing") as early:
            services.wait_until_ready("edr-ready", timeout=0.01)
        assert early.value.status is ServiceStatus.PROGRESSING
        seen: list[ServiceStatus] = []
        ready = services.wait_until_ready("edr-ready", timeout=180, on_status=lambda i: seen.append(i.status))
        assert ready.status is ServiceStatus.AVAILABLE and ready.ready_replicas >= 1
        assert seen[-1] is ServiceStatus.AVAILABLE
        assert ready.url.startswith(service.url) and ready.url.endswith("/edr-ready")
    finally:
        services.disable("edr-ready")
    wait_for(
        lambda: services.get_status("edr-ready")["status"] == "stopped", 60, "the deployment to be stopped"
    )
    with pytest.raises(ServiceNotReadyError, match=r"edr-ready .* is stopped") as stopped:
        services.wait_until_ready("edr-ready", timeout=5)
    assert stopped.value.status is ServiceStatus.STOPPED
