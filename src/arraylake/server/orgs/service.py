"""Orgs themselves: founding them, finding them by name, and describing them on the wire."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import insert, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.names import validate_org_name
from arraylake.server.audit.record import record
from arraylake.server.db.schema import orgs
from arraylake.server.errors import Conflict
from arraylake.server.identity.principals import Principal
from arraylake.server.orgs.members import add_membership
from arraylake.types import OrgResponse, OrgRole, utcnow


async def create_org(
    conn: AsyncConnection,
    name: str,
    *,
    created_by: str | None = None,
    display_name: str | None = None,
    description: str | None = None,
) -> str:
    """Create an org; return its id. 409 if the name is taken."""
    validate_org_name(name)
    org_id = str(uuid.uuid4())
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(orgs).values(
                    id=org_id,
                    name=name,
                    display_name=display_name or name,
                    description=description,
                    created=utcnow(),
                    created_by=created_by,
                    storage_binding=secrets.token_hex(16),
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"org {name} already exists (org names are compared ignoring case)") from exc
    return org_id


async def found_org(
    conn: AsyncConnection, founder: Principal, name: str, *, display_name: str | None, description: str | None
) -> OrgResponse:
    """Create an org whose founder becomes its admin."""
    org_id = await create_org(
        conn, name, created_by=founder.id, display_name=display_name, description=description
    )
    await add_membership(conn, org_id, founder.id, OrgRole.ADMIN)
    await record(
        conn,
        "org.create",
        actor=founder,
        org_id=org_id,
        org=name,
        target=name,
        details={"display_name": display_name or name, "founder_role": OrgRole.ADMIN.value},
    )
    return await org_response(conn, org_id)


async def org_id_by_name(conn: AsyncConnection, name: str) -> str | None:
    """The id of the org named ``name``, if there is one."""
    return (await conn.execute(select(orgs.c.id).where(orgs.c.name == name))).scalar_one_or_none()


def _response(row: Row) -> OrgResponse:
    return OrgResponse(
        id=row.id,
        name=row.name,
        display_name=row.display_name,
        description=row.description,
        created=row.created,
        created_by=row.created_by,
    )


async def org_response(conn: AsyncConnection, org_id: str) -> OrgResponse:
    """An existing org, as the API describes it."""
    return _response((await conn.execute(select(orgs).where(orgs.c.id == org_id))).one())


async def orgs_of(conn: AsyncConnection, principal: Principal) -> list[OrgResponse]:
    """The orgs a principal is a member of, by name."""
    ids = [m.org_id for m in principal.memberships.values()]
    if not ids:
        return []
    rows = await conn.execute(select(orgs).where(orgs.c.id.in_(ids)).order_by(orgs.c.name))
    return [_response(r) for r in rows]
