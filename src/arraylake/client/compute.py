"""Compute services of an org: deployments that serve every repo of the org over one protocol (EDR, WMS,
Tiles, DAP2/OPeNDAP or Zarr over HTTP).

:class:`AsyncComputeClient` speaks the service's control plane API (the hosted ``/compute`` dialect) through
the client's transport, so errors carry the service's detail; :class:`ComputeClient` runs it synchronously.
Get them from ``AsyncClient.get_services(org)`` and ``Client.get_services(org)``.

Example::

    services = Client().get_services("my-org")
    services.enable("edr", sku_code="s", deployment_name="edr-prod")
    ready = services.wait_until_ready("edr-prod")
    print(ready.url)  # data under {url}/{org}/{repo}/{ref}/{group}/edr/...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from arraylake.client.io_loop import run_sync
from arraylake.exceptions import ArraylakeError
from arraylake.names import validate_org_name
from arraylake.types.compute import (
    ComputeRegion,
    ComputeSku,
    DeploymentInfo,
    ServiceConfig,
    ServiceStatus,
    ServiceType,
)

if TYPE_CHECKING:
    from arraylake.client.transport import Transport

READY_STATUSES = frozenset({ServiceStatus.AVAILABLE, ServiceStatus.SLEEPING})
"""A sleeping deployment is ready too: the next request starts it."""
FAILED_STATUSES = frozenset(
    {
        ServiceStatus.ERROR,
        ServiceStatus.STOPPED,
        ServiceStatus.SUSPENDED,
        ServiceStatus.QUOTA_EXCEEDED,
        ServiceStatus.ORG_SUSPENDED,
    }
)
DEFAULT_READY_TIMEOUT = 300.0
LEGACY_CONFIG_NAMES = frozenset({"replicas", "cache_ttl", "cache_size"})
"""``enable`` keywords of the 0.15 client, read as ``min_replicas``, ``store_cache_ttl`` and
``store_cache_size``."""


class ServiceNotReadyError(ArraylakeError, RuntimeError):
    """A deployment did not become ready: it failed, was stopped, or took too long."""

    def __init__(self, message: str, *, name: str, status: ServiceStatus | None, detail: str | None):
        super().__init__(message)
        self.name = name
        self.status = status
        self.detail = detail


class ServiceStartTimeoutError(ServiceNotReadyError, TimeoutError):
    """A deployment was still starting when the wait ended."""


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


class AsyncComputeClient:
    """The compute services of one org (asyncio).

    Org admins enable, update and disable services; every member lists them and reads their status and
    logs. A service is named by its deployment name (``DeploymentInfo.name``, e.g. ``edr-1a2b3c4``).

    Args:
        service_uri: The Arraylake service (default: config ``service.uri``).
        token: An API token (default: config ``token``, else the saved login).
        org: The org whose services these are.
        transport: The transport of an existing client to share (as ``AsyncClient.get_services`` does).
    """

    def __init__(
        self,
        service_uri: str | None,
        token: str | None,
        org: str,
        *,
        transport: Transport | None = None,
    ):
        self.org = validate_org_name(org)
        if transport is None:
            from arraylake.client.async_client import AsyncClient

            transport = AsyncClient(service_uri, token)._transport
        self._transport = transport
        self.service_uri = transport.service_uri

    def __repr__(self) -> str:
        return f"AsyncComputeClient(service_uri={self.service_uri!r}, org={self.org!r})"

    def to_sync_client(self) -> ComputeClient:
        """The synchronous :class:`ComputeClient` over this one."""
        return ComputeClient(self)

    def _path(self, *parts: str) -> str:
        return "/".join([f"/compute/orgs/{self.org}", *(quote(part, safe="") for part in parts)])

    async def enable(
        self,
        protocol: ServiceType | str,
        is_public: bool = False,
        *,
        sku_code: str | None = None,
        region: str | None = None,
        deployment_name: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Enable a service that serves every repo of the org over ``protocol`` (org admins).

        Args:
            protocol: ``edr``, ``wms``, ``tiles``, ``dap2`` or ``zarr``.
            is_public: Serve anyone without credentials: every repo of the org becomes public.
            sku_code: Its size (see :meth:`skus`); default: the service's default.
            region: Where it runs (see :meth:`regions`); default: the service's default region.
            deployment_name: Its name (up to 16 lowercase letters, digits and inner dashes); default
                ``{protocol}-{7 hex digits}``. Distinct names let an org run several services per protocol.
            kwargs: Other ``ServiceConfig`` fields (``min_replicas``, ``max_replicas``, ``cache_max_age``...).

        Returns:
            The service's answer: ``message`` and the new ``deployment``.
        """
        unknown = set(kwargs) - set(ServiceConfig.model_fields) - LEGACY_CONFIG_NAMES
        if unknown:
            raise TypeError(f"enable() got unknown service settings: {', '.join(sorted(unknown))}")
        chosen = {"sku_code": sku_code, "region": region, "deployment_name": deployment_name}
        config = ServiceConfig.model_validate(
            {
                "service_type": ServiceType(protocol),
                "org": self.org,
                "is_public": is_public,
                **{key: value for key, value in chosen.items() if value is not None},
                **kwargs,
            }
        )
        body = config.model_dump(mode="json", exclude_unset=True)
        response = await self._transport.request("POST", self._path("services"), json_body=body)
        return cast(dict[str, Any], response.json())

    async def list_enabled(self) -> list[DeploymentInfo]:
        """The org's enabled services."""
        return [
            DeploymentInfo.model_validate(d) for d in await self._transport.get_json(self._path("services"))
        ]

    async def get_status(self, name: str) -> dict[str, Any]:
        """A service's state (a disabled one's too): the ``DeploymentInfo`` fields, with ``status_detail``
        saying why it is in ``error``."""
        return cast(dict[str, Any], await self._transport.get_json(self._path("services", name)))

    async def get_logs(
        self,
        name: str,
        *,
        tail: int | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> str:
        """A service's own output (its processes' stdout and stderr), one line per log line.

        Args:
            tail: Only the last ``tail`` lines.
            since: Only lines from this time on (a datetime or an ISO 8601 string).
            until: Only lines before this time.
        """
        lines = [line async for line in self.stream_logs(name, tail=tail, since=since, until=until)]
        return "\n".join(lines)

    async def stream_logs(
        self,
        name: str,
        *,
        tail: int | None = None,
        follow: bool = False,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        follow_timeout: int = 30,
    ) -> AsyncGenerator[str]:
        """A service's log lines as they arrive (``"<time> <stream> F <message>"``).

        Args:
            tail: Start with the last ``tail`` lines.
            follow: Keep streaming new lines as they are written, for up to ``follow_timeout`` seconds.
            since: Only lines from this time on (a datetime or an ISO 8601 string).
            until: Only lines before this time.
            follow_timeout: With ``follow``, how long to follow (1 to 600 s).
        """
        params: dict[str, Any] = {"follow_timeout": follow_timeout}
        if follow:
            params["follow"] = "true"
        if tail is not None:
            params["tail"] = tail
        if since is not None:
            params["since"] = _iso(since)
        if until is not None:
            params["until"] = _iso(until)
        path = self._path("services", name, "logs")
        longest = follow_timeout + 30  # the service ends a followed stream after follow_timeout seconds
        async with self._transport.stream("GET", path, params=params, read_timeout=longest) as response:
            async for line in response.aiter_lines():
                yield line

    async def update(
        self,
        name: str,
        *,
        sku_code: str | None = None,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
    ) -> DeploymentInfo:
        """Resize a service (org admins): its SKU and replica bounds; only the given values change, and the
        service restarts with them."""
        changes = {"sku_code": sku_code, "min_replicas": min_replicas, "max_replicas": max_replicas}
        body = {key: value for key, value in changes.items() if value is not None}
        if not body:
            raise ValueError("update() needs at least one of sku_code, min_replicas, max_replicas")
        response = await self._transport.request("PATCH", self._path("services", name), json_body=body)
        return DeploymentInfo.model_validate(response.json())

    async def regions(self) -> list[ComputeRegion]:
        """Where services may run; ``default`` marks where they run unless told."""
        return [
            ComputeRegion.model_validate(r) for r in await self._transport.get_json(self._path("regions"))
        ]

    async def skus(self) -> list[ComputeSku]:
        """The sizes services run at: threads, concurrency, memory and response limits per process."""
        return [ComputeSku.model_validate(s) for s in await self._transport.get_json(self._path("skus"))]

    async def disable(self, name: str) -> dict[str, Any]:
        """Disable a service (org admins): its processes stop; its status and logs stay readable."""
        response = await self._transport.request("DELETE", self._path("services", name))
        return cast(dict[str, Any], response.json())

    async def wait_until_ready(
        self,
        name: str,
        timeout: float = DEFAULT_READY_TIMEOUT,  # noqa: ASYNC109 (the same call blocks on ComputeClient)
        *,
        poll_interval: float = 1.0,
        on_status: Callable[[DeploymentInfo], None] | None = None,
    ) -> DeploymentInfo:
        """Wait until a service answers requests (``available``, or ``sleeping`` until its next request).

        Args:
            timeout: Seconds to wait before raising :class:`ServiceStartTimeoutError`.
            poll_interval: Seconds between status checks.
            on_status: Called with every status seen (to show progress).

        Raises:
            ServiceNotReadyError: The service is in ``error`` (the detail says why), stopped or suspended.
        """
        deadline = time.monotonic() + timeout
        while True:
            info = DeploymentInfo.model_validate(await self.get_status(name))
            if on_status is not None:
                on_status(info)
            if info.status in READY_STATUSES:
                return info
            why = f": {info.status_detail}" if info.status_detail else ""
            if info.status in FAILED_STATUSES:
                raise ServiceNotReadyError(
                    f"compute service {name} of {self.org} is {info.status.value}{why}",
                    name=name,
                    status=info.status,
                    detail=info.status_detail,
                )
            if time.monotonic() + poll_interval > deadline:
                raise ServiceStartTimeoutError(
                    f"compute service {name} of {self.org} is still {info.status.value} after {timeout:g} s"
                    f"{why}; see `arraylake compute logs {self.org} {name}`",
                    name=name,
                    status=info.status,
                    detail=info.status_detail,
                )
            await asyncio.sleep(poll_interval)


def _documented_as[C: type](source: type) -> Callable[[C], C]:
    """Give each method of the decorated class the docstring of ``source``'s method of the same name."""

    def decorate(cls: C) -> C:
        for name, member in vars(cls).items():
            if callable(member) and not name.startswith("_") and member.__doc__ is None:
                member.__doc__ = getattr(source, name).__doc__
        return cls

    return decorate


@_documented_as(AsyncComputeClient)
class ComputeClient:
    """The compute services of one org (synchronous): :class:`AsyncComputeClient`'s methods, run to
    completion on the client's background event loop."""

    def __init__(self, aclient: AsyncComputeClient):
        self.aclient = aclient
        self.org = aclient.org
        self.service_uri = aclient.service_uri

    def __repr__(self) -> str:
        return f"ComputeClient(service_uri={self.service_uri!r}, org={self.org!r})"

    def enable(
        self,
        protocol: ServiceType | str,
        is_public: bool = False,
        *,
        sku_code: str | None = None,
        region: str | None = None,
        deployment_name: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return run_sync(
            self.aclient.enable(
                protocol,
                is_public,
                sku_code=sku_code,
                region=region,
                deployment_name=deployment_name,
                **kwargs,
            )
        )

    def list_enabled(self) -> list[DeploymentInfo]:
        return run_sync(self.aclient.list_enabled())

    def get_status(self, name: str) -> dict[str, Any]:
        return run_sync(self.aclient.get_status(name))

    def get_logs(
        self,
        name: str,
        *,
        tail: int | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> str:
        return run_sync(self.aclient.get_logs(name, tail=tail, since=since, until=until))

    def stream_logs(
        self,
        name: str,
        *,
        tail: int | None = None,
        follow: bool = False,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        follow_timeout: int = 30,
    ) -> Iterator[str]:
        lines = self.aclient.stream_logs(
            name, tail=tail, follow=follow, since=since, until=until, follow_timeout=follow_timeout
        )

        async def next_line() -> str | None:
            return await anext(lines, None)

        try:
            while (line := run_sync(next_line())) is not None:
                yield line
        finally:
            run_sync(lines.aclose())

    def update(
        self,
        name: str,
        *,
        sku_code: str | None = None,
        min_replicas: int | None = None,
        max_replicas: int | None = None,
    ) -> DeploymentInfo:
        return run_sync(
            self.aclient.update(name, sku_code=sku_code, min_replicas=min_replicas, max_replicas=max_replicas)
        )

    def regions(self) -> list[ComputeRegion]:
        return run_sync(self.aclient.regions())

    def skus(self) -> list[ComputeSku]:
        return run_sync(self.aclient.skus())

    def disable(self, name: str) -> dict[str, Any]:
        return run_sync(self.aclient.disable(name))

    def wait_until_ready(
        self,
        name: str,
        timeout: float = DEFAULT_READY_TIMEOUT,
        *,
        poll_interval: float = 1.0,
        on_status: Callable[[DeploymentInfo], None] | None = None,
    ) -> DeploymentInfo:
        return run_sync(
            self.aclient.wait_until_ready(name, timeout, poll_interval=poll_interval, on_status=on_status)
        )
