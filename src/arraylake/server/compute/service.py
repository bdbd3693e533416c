"""Use cases of the compute control plane: enable, list, inspect, change and disable an org's deployments.

Plain async functions over a connection (the caller owns the transaction) that write what is wanted
(:mod:`arraylake.server.compute.records`); the supervisor makes it so. Bad input is a 422 naming what this
service offers, and changes nothing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record
from arraylake.server.compute import records
from arraylake.server.compute.skus import DEFAULT_SKU, SKUS
from arraylake.server.db.locks import lock_org
from arraylake.server.errors import Conflict, InvalidInput, NotFound
from arraylake.server.identity.principals import OrgScope, Principal
from arraylake.server.orgs.api_clients import create_api_client, revoke_api_client
from arraylake.types import OrgRole, utcnow
from arraylake.types.common import check_text
from arraylake.types.compute import (
    ComputeRegion,
    ComputeSku,
    DeploymentInfo,
    ServiceConfig,
    ServiceStatus,
    ServiceType,
    ServiceUpdate,
)

DEFAULT_MIN_REPLICAS = 1
DEFAULT_MAX_REPLICAS = 24
NAME_ATTEMPTS = 20


@dataclass(frozen=True)
class Enabled:
    """A deployment just enabled, and what to tell the caller about it."""

    info: DeploymentInfo
    message: str


def offered_regions(regions: list[str]) -> list[ComputeRegion]:
    """The installation's regions; the first is the default."""
    return [ComputeRegion(name=name, default=index == 0) for index, name in enumerate(regions)]


def offered_skus() -> list[ComputeSku]:
    return list(SKUS.values())


def _checked_sku(code: str) -> str:
    if code not in SKUS:
        raise InvalidInput(f"unknown sku_code {code!r}: this service offers {', '.join(SKUS)}")
    return code


def _checked_replicas(min_replicas: int, max_replicas: int) -> None:
    if min_replicas > max_replicas:
        raise InvalidInput(f"min_replicas ({min_replicas}) exceeds max_replicas ({max_replicas})")


def _public_warning(info: DeploymentInfo) -> str:
    return (
        f"WARNING: {info.name} is PUBLIC: anyone, without a token, can read every repo of org "
        f"{info.config.org} through {info.url}. "
    )


def enable_message(info: DeploymentInfo) -> str:
    """What ``enable`` answers (the hosted clients print it): where the data is, and loudly if public."""
    suffix = info.config.service_type.url_suffix
    where = (
        f"{info.config.service_type.value} service {info.name} enabled in org {info.config.org} "
        f"(SKU {info.config.sku_code}, region {info.region}); it is starting. Its data: "
        f"{info.url}/{info.config.org}/{{repo}}/{{branch|tag|snapshot}}/{{group}}/{suffix}"
    )
    return (_public_warning(info) + where) if info.config.is_public else where


async def _unused_name(conn: AsyncConnection, org: OrgScope, service_type: ServiceType) -> str:
    for _ in range(NAME_ATTEMPTS):
        name = f"{service_type.value}-{secrets.token_hex(4)[:7]}"
        if await records.service_row(conn, org.org_id, name) is None:
            return name
    raise Conflict("could not find an unused deployment name; give one with deployment_name")


def _stored_config(config: ServiceConfig, org: OrgScope, regions: list[str]) -> ServiceConfig:
    """The configuration to record, with the defaults filled in; 422 for what this service does not offer."""
    try:
        check_text(config.model_dump(mode="json"))
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if config.org != org.org_name:
        raise InvalidInput(
            f"the body names org {config.org!r} but the path org {org.org_name!r}; they must match"
        )
    sku = _checked_sku(DEFAULT_SKU if config.sku_code is None else config.sku_code)
    region = regions[0] if config.region is None else config.region
    if region not in regions:
        raise InvalidInput(f"unknown region {region!r}: this service offers {', '.join(regions)}")
    min_replicas = DEFAULT_MIN_REPLICAS if config.min_replicas is None else config.min_replicas
    max_replicas = DEFAULT_MAX_REPLICAS if config.max_replicas is None else config.max_replicas
    _checked_replicas(min_replicas, max_replicas)
    return config.model_copy(
        update={"sku_code": sku, "region": region, "min_replicas": min_replicas, "max_replicas": max_replicas}
    )


async def enable_service(
    conn: AsyncConnection,
    org: OrgScope,
    config: ServiceConfig,
    *,
    regions: list[str],
    principal: Principal,
    public_base: str,
) -> Enabled:
    """Enable a deployment (wanted running). A disabled one of the same name is enabled again with the new
    configuration; an enabled one of that name is a 409. A public one gets an API client of the org (repo
    reader) that anonymous requests read as."""
    wanted = _stored_config(config, org, regions)
    await lock_org(conn, org.org_id)  # the name check and the insert, one enable at a time
    name = wanted.deployment_name or await _unused_name(conn, org, wanted.service_type)
    wanted = wanted.model_copy(update={"deployment_name": name})
    existing = await records.service_row(conn, org.org_id, name)
    if existing is not None and existing.desired == records.RUNNING:
        raise Conflict(
            f"org {org.org_name} already has an enabled service named {name} ({existing.service_type}): "
            "choose another deployment_name, or disable that one first"
        )
    reader_id = None
    if wanted.is_public:
        reader_id = await create_api_client(
            conn, org_id=org.org_id, name=f"compute service {name} (public reader)", role=OrgRole.REPO_READER
        )
    if existing is None:
        await records.insert_service(
            conn,
            org_id=org.org_id,
            name=name,
            config=wanted,
            sku_code=wanted.sku_code or DEFAULT_SKU,
            region=wanted.region or regions[0],
            created_by=principal.id,
            reader_id=reader_id,
        )
    else:
        await records.change_service(
            conn,
            existing.id,
            service_type=wanted.service_type.value,
            is_public=wanted.is_public,
            config=wanted.model_dump(mode="json"),
            sku_code=wanted.sku_code,
            region=wanted.region,
            created_by=principal.id,
            desired=records.RUNNING,
            status=ServiceStatus.PROGRESSING.value,
            status_detail=None,
            ready_replicas=0,
            restarts=0,
            last_request_at=utcnow(),
            wake_requested_at=None,
            reader_id=reader_id,
        )
    info = records.deployment_info(await _row(conn, org, name), public_base)
    await record(
        conn,
        "compute.enable",
        actor=principal,
        org_id=org.org_id,
        org=org.org_name,
        target=name,
        details={**_described(info.config), "reenabled": existing is not None},
    )
    return Enabled(info, enable_message(info))


def _described(config: ServiceConfig) -> dict[str, Any]:
    """What an audit entry says of a deployment's configuration."""
    return {
        "service_type": config.service_type.value,
        "is_public": config.is_public,
        "sku_code": config.sku_code,
        "region": config.region,
        "min_replicas": config.min_replicas,
        "max_replicas": config.max_replicas,
    }


async def list_services(conn: AsyncConnection, org: OrgScope, *, public_base: str) -> list[DeploymentInfo]:
    """The org's enabled deployments, oldest first."""
    rows = await records.org_service_rows(conn, org.org_id, include_stopped=False)
    return [records.deployment_info(row, public_base) for row in rows]


async def _row(conn: AsyncConnection, org: OrgScope, name: str) -> Row:
    row = await records.service_row(conn, org.org_id, name)
    if row is not None:
        return row
    rows = await records.org_service_rows(conn, org.org_id, include_stopped=True)
    known = [r.name if r.desired == records.RUNNING else f"{r.name} (disabled)" for r in rows]
    has = f"its services are {', '.join(known)}" if known else "it has none"
    raise NotFound(f"org {org.org_name} has no compute service named {name!r}; {has}")


async def get_service(conn: AsyncConnection, org: OrgScope, name: str, *, public_base: str) -> DeploymentInfo:
    """One deployment of the org, disabled ones too; 404 naming the org's services."""
    return records.deployment_info(await _row(conn, org, name), public_base)


async def service_id(conn: AsyncConnection, org: OrgScope, name: str) -> str:
    """The id of a deployment of the org (its logbook's key); 404 naming the org's services."""
    return str((await _row(conn, org, name)).id)


def _check_changes(changes: ServiceUpdate) -> None:
    if not changes.model_fields_set:
        raise InvalidInput("nothing to change: give at least one of sku_code, min_replicas, max_replicas")
    for field in sorted(changes.model_fields_set):
        if getattr(changes, field) is None:
            raise InvalidInput(f"{field} may not be null: leave it out to keep its current value")


async def update_service(
    conn: AsyncConnection,
    org: OrgScope,
    principal: Principal,
    name: str,
    changes: ServiceUpdate,
    *,
    public_base: str,
) -> DeploymentInfo:
    """Change an enabled deployment's SKU or replicas (only the given fields); the supervisor restarts it
    with them. An update that changes nothing restarts nothing."""
    _check_changes(changes)  # from here on, a field is None only when it was not given
    await lock_org(conn, org.org_id)  # read-modify-write of the stored configuration
    row = await _row(conn, org, name)
    if row.desired != records.RUNNING:
        raise Conflict(f"service {name} of org {org.org_name} is disabled: enable it again to change it")
    current = records.config_of(row)
    sku = _checked_sku(row.sku_code if changes.sku_code is None else changes.sku_code)
    min_replicas = _first(changes.min_replicas, current.min_replicas, DEFAULT_MIN_REPLICAS)
    max_replicas = _first(changes.max_replicas, current.max_replicas, DEFAULT_MAX_REPLICAS)
    _checked_replicas(min_replicas, max_replicas)
    wanted = current.model_copy(
        update={"sku_code": sku, "min_replicas": min_replicas, "max_replicas": max_replicas}
    )
    if wanted != current:
        await records.change_service(conn, row.id, sku_code=sku, config=wanted.model_dump(mode="json"))
        row = await _row(conn, org, name)
        await record(
            conn,
            "compute.update",
            actor=principal,
            org_id=org.org_id,
            org=org.org_name,
            target=name,
            details={
                "fields": sorted(changes.model_fields_set),
                **_described(wanted),
                "previous": {
                    "sku_code": current.sku_code,
                    "min_replicas": current.min_replicas,
                    "max_replicas": current.max_replicas,
                },
            },
        )
    return records.deployment_info(row, public_base)


def _first(*values: int | None) -> int:
    return next(value for value in values if value is not None)


async def disable_service(conn: AsyncConnection, org: OrgScope, principal: Principal, name: str) -> str:
    """Want a deployment stopped (the supervisor stops its processes; its logs stay readable) and revoke
    the public reader of a public one. Return what to tell the caller."""
    await lock_org(conn, org.org_id)
    row = await _row(conn, org, name)
    if row.desired != records.RUNNING:
        raise Conflict(f"service {name} of org {org.org_name} is already disabled")
    revoked = ""
    if row.reader_id is not None:
        await revoke_api_client(conn, org, row.reader_id, actor=principal)
        revoked = "; anonymous access ended: its public reader's tokens are revoked"
    await records.change_service(conn, row.id, desired=records.STOPPED, reader_id=None)
    await record(
        conn,
        "compute.disable",
        actor=principal,
        org_id=org.org_id,
        org=org.org_name,
        target=name,
        details={"service_type": row.service_type, "was_public": row.reader_id is not None},
    )
    return f"{row.service_type} service {name} of org {org.org_name} disabled: its processes stop{revoked}"


# ----------------------------------------------------------------------------- the hosted clients' dialects

HOSTED_CLIENT = "arraylake-python-client"
"""The ``client-name`` header of the hosted product's published client."""
_FIRST_STATUSES = {
    ServiceStatus.AVAILABLE,
    ServiceStatus.PROGRESSING,
    ServiceStatus.UNKNOWN,
    ServiceStatus.ERROR,
}
_FIRST_NAMES = {"replicas": "min_replicas", "cache_ttl": "store_cache_ttl", "cache_size": "store_cache_size"}


def hosted_client_version(name: str | None, version: str | None) -> tuple[int, int] | None:
    """``(major, minor)`` of a hosted client from its ``client-name`` and ``client-version`` headers, or
    ``None`` for any other client."""
    if name != HOSTED_CLIENT or not version:
        return None
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found[1]), int(found[2])) if found else None


def in_client_dialect(infos: list[DeploymentInfo], client: tuple[int, int] | None) -> list[dict[str, Any]]:
    """A listing, as JSON, that the asking client can parse and read in its own terms. The hosted client
    before 1.0 knows only four statuses (a sleeping deployment answers, so it is ``available``; others are
    ``unknown``); before 0.23 no ``tiles`` type (such deployments are left out of its listing); before 0.18
    it reads ``replicas``, ``cache_ttl`` and ``cache_size`` (given alongside our names)."""
    if client is None or client >= (1, 0):
        return [info.model_dump(mode="json") for info in infos]
    listing = []
    for info in infos:
        if client < (0, 23) and info.config.service_type is ServiceType.TILES:
            continue
        status = info.status
        if status not in _FIRST_STATUSES:
            status = ServiceStatus.AVAILABLE if status is ServiceStatus.SLEEPING else ServiceStatus.UNKNOWN
        item = info.model_copy(update={"status": status}).model_dump(mode="json")
        if client < (0, 18):
            item["config"].update({old: item["config"][new] for old, new in _FIRST_NAMES.items()})
        listing.append(item)
    return listing
