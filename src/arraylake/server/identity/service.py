"""Creating orgs, API clients and tokens; resolving a token to its principal."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.names import validate_org_name
from arraylake.server.db.schema import api_tokens, memberships, orgs, principals
from arraylake.server.errors import Conflict
from arraylake.server.identity.principals import Membership, Principal, PrincipalKind, Role
from arraylake.server.identity.tokens import hash_token, new_token, token_hint
from arraylake.types import utcnow


async def create_org(conn: AsyncConnection, name: str, *, created_by: str | None = None) -> str:
    """Create an org; return its id. 409 if the name is taken."""
    validate_org_name(name)
    org_id = str(uuid.uuid4())
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(orgs).values(
                    id=org_id, name=name, display_name=name, created=utcnow(), created_by=created_by
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"org {name} already exists") from exc
    return org_id


async def org_id_by_name(conn: AsyncConnection, name: str) -> str | None:
    return (await conn.execute(select(orgs.c.id).where(orgs.c.name == name))).scalar_one_or_none()


async def create_api_client(conn: AsyncConnection, *, org_id: str, name: str, email: str, role: Role) -> str:
    """Create an API client (service account) of an org with a role in it; return its id."""
    principal_id = str(uuid.uuid4())
    now = utcnow()
    await conn.execute(
        insert(principals).values(
            id=principal_id,
            kind=PrincipalKind.API_CLIENT,
            email=email,
            display_name=name,
            org_id=org_id,
            created=now,
        )
    )
    await conn.execute(
        insert(memberships).values(org_id=org_id, principal_id=principal_id, role=role, created=now)
    )
    return principal_id


async def issue_token(
    conn: AsyncConnection, principal_id: str, *, name: str = "", expires_at: datetime | None = None
) -> str:
    """Create a token for a principal and return it in clear (the only time it exists in clear)."""
    token = new_token()
    await conn.execute(
        insert(api_tokens).values(
            id=str(uuid.uuid4()),
            token_hash=hash_token(token),
            hint=token_hint(token),
            principal_id=principal_id,
            name=name,
            created=utcnow(),
            expires_at=expires_at,
        )
    )
    return token


async def principal_for_token_hash(conn: AsyncConnection, token_hash: str) -> Principal | None:
    """The active principal a token belongs to, with its memberships; ``None`` if the token is not valid."""
    row = (
        await conn.execute(
            select(
                api_tokens.c.id.label("token_id"),
                api_tokens.c.expires_at,
                api_tokens.c.revoked_at,
                principals.c.id,
                principals.c.kind,
                principals.c.email,
                principals.c.display_name,
                principals.c.first_name,
                principals.c.family_name,
                principals.c.disabled_at,
            )
            .join(principals, principals.c.id == api_tokens.c.principal_id)
            .where(api_tokens.c.token_hash == token_hash)
        )
    ).one_or_none()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.disabled_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    member_rows = await conn.execute(
        select(memberships.c.org_id, memberships.c.role, orgs.c.name)
        .join(orgs, orgs.c.id == memberships.c.org_id)
        .where(memberships.c.principal_id == row.id)
    )
    return Principal(
        id=row.id,
        kind=PrincipalKind(row.kind),
        email=row.email,
        display_name=row.display_name,
        first_name=row.first_name,
        family_name=row.family_name,
        token_id=row.token_id,
        token_expires_at=row.expires_at,
        memberships={m.name: Membership(m.org_id, m.name, Role(m.role)) for m in member_rows},
    )


async def touch_token(conn: AsyncConnection, token_id: str) -> None:
    await conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=utcnow()))
