"""Compute service rows: what the API wants (``desired``, config, ``generation``) and what the supervisor
observes (``status``, ``port``, replicas). Plain functions over a connection; the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import compute_services, orgs
from arraylake.types import utcnow
from arraylake.types.compute import DeploymentInfo, ServiceConfig, ServiceStatus

RUNNING = "running"
STOPPED = "stopped"

_COLUMNS = [*compute_services.c, orgs.c.name.label("org_name")]


def _joined() -> Any:
    return select(*_COLUMNS).join(orgs, orgs.c.id == compute_services.c.org_id)


async def insert_service(
    conn: AsyncConnection,
    *,
    org_id: str,
    name: str,
    config: ServiceConfig,
    sku_code: str,
    region: str,
    created_by: str | None,
    reader_id: str | None = None,
) -> str:
    """Record a new deployment, wanted running; return its id."""
    service_id = str(uuid.uuid4())
    now = utcnow()
    await conn.execute(
        compute_services.insert().values(
            id=service_id,
            org_id=org_id,
            name=name,
            service_type=config.service_type.value,
            is_public=config.is_public,
            config=config.model_dump(mode="json"),
            sku_code=sku_code,
            region=region,
            created=now,
            created_by=created_by,
            updated=now,
            desired=RUNNING,
            generation=1,
            status=ServiceStatus.PROGRESSING.value,
            status_detail=None,
            ready_replicas=0,
            port=None,
            running_generation=None,
            restarts=0,
            last_request_at=now,
            wake_requested_at=None,
            reader_id=reader_id,
        )
    )
    return service_id


async def service_row(conn: AsyncConnection, org_id: str, name: str) -> Row | None:
    """One deployment of an org by name (with ``org_name``), or ``None``."""
    query = _joined().where(compute_services.c.org_id == org_id, compute_services.c.name == name)
    return (await conn.execute(query)).first()


async def service_row_by_org_name(conn: AsyncConnection, org_name: str, name: str) -> Row | None:
    """One deployment by org name and deployment name (the data URLs carry both), or ``None``."""
    query = _joined().where(orgs.c.name == org_name, compute_services.c.name == name)
    return (await conn.execute(query)).first()


async def org_service_rows(conn: AsyncConnection, org_id: str, *, include_stopped: bool) -> list[Row]:
    """An org's deployments, oldest first; without ``include_stopped`` only the enabled ones."""
    query = _joined().where(compute_services.c.org_id == org_id)
    if not include_stopped:
        query = query.where(compute_services.c.desired == RUNNING)
    return list(
        (await conn.execute(query.order_by(compute_services.c.created, compute_services.c.name))).all()
    )


async def supervised_rows(conn: AsyncConnection) -> list[Row]:
    """Every deployment the supervisor has to act on: wanted running, or still marked as running."""
    query = _joined().where(
        (compute_services.c.desired == RUNNING) | (compute_services.c.status != ServiceStatus.STOPPED.value)
    )
    return list((await conn.execute(query)).all())


async def change_service(conn: AsyncConnection, service_id: str, **values: Any) -> None:
    """Change what is wanted of a deployment (config, SKU, replicas, desired state): the supervisor sees a
    new generation and restarts or stops its processes."""
    await conn.execute(
        update(compute_services)
        .where(compute_services.c.id == service_id)
        .values(generation=compute_services.c.generation + 1, updated=utcnow(), **values)
    )


async def observe(conn: AsyncConnection, service_id: str, **values: Any) -> None:
    """Record what the supervisor sees (status, detail, port, ready replicas, running generation...)."""
    await conn.execute(update(compute_services).where(compute_services.c.id == service_id).values(**values))


async def note_request(conn: AsyncConnection, service_id: str, at: datetime, *, wake: bool) -> None:
    """A request reached a deployment (keeps it awake); ``wake`` asks a sleeping one to start."""
    values: dict[str, Any] = {"last_request_at": at}
    if wake:
        values["wake_requested_at"] = at
    await conn.execute(update(compute_services).where(compute_services.c.id == service_id).values(**values))


def config_of(row: Row) -> ServiceConfig:
    """The deployment's configuration with its current SKU, replicas and region filled in."""
    config = ServiceConfig.model_validate(row.config)
    return config.model_copy(
        update={
            "deployment_name": row.name,
            "sku_code": row.sku_code,
            "region": row.region,
            "org": row.org_name,
        }
    )


def services_base_url(public_base: str) -> str:
    """Where deployments' data URLs start: ``{service}/v1/services``."""
    return f"{public_base.rstrip('/')}/v1/services"


def deployment_info(row: Row, public_base: str) -> DeploymentInfo:
    """The wire model of a deployment; ``url`` is the base of its data URLs, behind the service's URL."""
    return DeploymentInfo(
        name=row.name,
        url=f"{services_base_url(public_base)}/{row.name}",
        created=row.created,
        config=config_of(row),
        status=ServiceStatus(row.status),
        ready_replicas=row.ready_replicas,
        region=row.region,
        status_detail=row.status_detail,
    )
