"""An org's API clients (service accounts) and their tokens: creating, listing, rotating, revoking them."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record
from arraylake.server.db.locks import lock_org
from arraylake.server.db.schema import api_tokens, memberships, principals, repo_grants
from arraylake.server.errors import Conflict, NotFound
from arraylake.server.identity.principals import OrgScope, Principal, PrincipalKind
from arraylake.server.identity.service import issue_token
from arraylake.server.identity.tokens import hash_token
from arraylake.server.orgs.members import add_membership, refuse_last_admin
from arraylake.types import (
    ApiClientCreated,
    ApiClientInfo,
    ApiClientResponse,
    ApiTokenCreated,
    ApiTokenSummary,
    OrgRole,
    utcnow,
)


def api_client_email(name: str, client_id: str) -> str:
    """The made-up address of an API client: its name as a slug, and the start of its id."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "client"
    return f"{slug}-{client_id[:8]}@api-clients.example.com"


async def create_api_client(
    conn: AsyncConnection, *, org_id: str, name: str, role: OrgRole, email: str | None = None
) -> str:
    """Create an API client (service account) of an org, with a role in it; return its id."""
    principal_id = str(uuid.uuid4())
    await conn.execute(
        insert(principals).values(
            id=principal_id,
            kind=PrincipalKind.API_CLIENT,
            email=email or api_client_email(name, principal_id),
            display_name=name,
            org_id=org_id,
            created=utcnow(),
        )
    )
    await add_membership(conn, org_id, principal_id, role)
    return principal_id


def _expiry(days: float | None) -> datetime | None:
    return utcnow() + timedelta(days=days) if days else None


def _token_summary(row: Row) -> ApiTokenSummary:
    return ApiTokenSummary(
        id=row.id,
        hint=row.hint,
        name=row.name,
        created=row.created,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def list_api_clients(
    conn: AsyncConnection, org: OrgScope, *, only: str | None = None
) -> list[ApiClientInfo]:
    """The org's API clients, oldest first, with their tokens (never the tokens themselves)."""
    query = (
        select(
            principals.c.id,
            principals.c.display_name,
            principals.c.email,
            principals.c.created,
            principals.c.disabled_at,
            memberships.c.role,
        )
        .outerjoin(
            memberships,
            (memberships.c.principal_id == principals.c.id) & (memberships.c.org_id == org.org_id),
        )
        .where(principals.c.org_id == org.org_id, principals.c.kind == PrincipalKind.API_CLIENT)
        .order_by(principals.c.created)
    )
    if only is not None:
        query = query.where(principals.c.id == only)
    clients = (await conn.execute(query)).all()
    ids = [c.id for c in clients]
    tokens: dict[str, list[ApiTokenSummary]] = {i: [] for i in ids}
    if ids:
        rows = await conn.execute(
            select(api_tokens).where(api_tokens.c.principal_id.in_(ids)).order_by(api_tokens.c.created)
        )
        for row in rows:
            tokens[row.principal_id].append(_token_summary(row))
    return [
        ApiClientInfo(
            _id=c.id,
            name=c.display_name,
            email=c.email,
            role=c.role,
            created=c.created,
            disabled_at=c.disabled_at,
            tokens=tokens[c.id],
        )
        for c in clients
    ]


async def api_client(conn: AsyncConnection, org: OrgScope, client_id: str) -> ApiClientInfo:
    """One API client of the org; 404 if the org has none with that id."""
    try:
        uuid.UUID(client_id)
    except ValueError as exc:
        raise NotFound(f"API client {client_id} not found in org {org.org_name}") from exc
    found = await list_api_clients(conn, org, only=client_id)
    if not found:
        raise NotFound(f"API client {client_id} not found in org {org.org_name}")
    return found[0]


async def _audit(
    conn: AsyncConnection, action: str, org: OrgScope, actor: Principal | None, target: str, **details: object
) -> None:
    # Tokens are named by id and name only: never their value, hash or hint.
    await record(
        conn, action, actor=actor, org_id=org.org_id, org=org.org_name, target=target, details=details
    )


async def new_api_client(
    conn: AsyncConnection,
    org: OrgScope,
    *,
    name: str,
    role: OrgRole,
    expires_in_days: float | None,
    actor: Principal | None,
) -> ApiClientCreated:
    """A new API client with a role and a first token (the only time the token is shown)."""
    client_id = await create_api_client(conn, org_id=org.org_id, name=name, role=role)
    await _audit(conn, "api_client.create", org, actor, client_id, name=name, role=role.value)
    token = await new_api_token(
        conn, org, client_id, name="first token", expires_in_days=expires_in_days, actor=actor
    )
    return ApiClientCreated(client=await api_client(conn, org, client_id), token=token)


async def new_api_token(
    conn: AsyncConnection,
    org: OrgScope,
    client_id: str,
    *,
    name: str,
    expires_in_days: float | None,
    actor: Principal | None,
) -> ApiTokenCreated:
    """Another token for an active API client (to rotate tokens); the only time it is shown."""
    client = await api_client(conn, org, client_id)
    if client.disabled_at is not None:
        raise Conflict(f"API client {client_id} has been revoked")
    expires_at = _expiry(expires_in_days)
    token_id, token = await issue_token(conn, client_id, name=name, expires_at=expires_at)
    await _audit(
        conn,
        "token.create",
        org,
        actor,
        token_id,
        name=name,
        client_id=client_id,
        client=client.name,
        expires_at=expires_at,
    )
    return ApiTokenCreated(
        id=uuid.UUID(token_id),
        client_id=uuid.UUID(client_id),
        token=SecretStr(token),
        expires_at=expires_at,
    )


async def revoke_api_token(
    conn: AsyncConnection, org: OrgScope, client_id: str, token_id: str, *, actor: Principal | None
) -> None:
    """Revoke one active token of an API client of the org; 404 if there is no such token."""
    client = await api_client(conn, org, client_id)
    revoked = (
        await conn.execute(
            update(api_tokens)
            .where(
                api_tokens.c.id == token_id,
                api_tokens.c.principal_id == client_id,
                api_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
            .returning(api_tokens.c.name)
        )
    ).all()
    if len(revoked) != 1:
        raise NotFound(f"no active token {token_id} for API client {client_id}")
    await _audit(
        conn,
        "token.revoke",
        org,
        actor,
        token_id,
        name=revoked[0].name,
        client_id=client_id,
        client=client.name,
    )


async def revoke_api_client(
    conn: AsyncConnection, org: OrgScope, client_id: str, *, actor: Principal | None = None
) -> None:
    """Disable an API client and revoke its tokens; an org's last admin cannot be revoked.

    ``actor`` ``None``: the service's own doing (e.g. a compute service being disabled).
    """
    await lock_org(conn, org.org_id)
    client = await api_client(conn, org, client_id)
    if client.role == OrgRole.ADMIN:
        await refuse_last_admin(conn, org, client_id)
    now = utcnow()
    await conn.execute(update(principals).where(principals.c.id == client_id).values(disabled_at=now))
    await conn.execute(delete(repo_grants).where(repo_grants.c.principal_id == client_id))
    tokens = await conn.execute(
        update(api_tokens)
        .where(api_tokens.c.principal_id == client_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await _audit(
        conn,
        "api_client.delete",
        org,
        actor,
        client_id,
        name=client.name,
        role=client.role,
        tokens_revoked=tokens.rowcount,
    )


async def lookup_token(conn: AsyncConnection, org: OrgScope, token: str) -> ApiClientResponse:
    """The API client of this org that an API token belongs to (for services that receive tokens)."""
    row = (
        await conn.execute(
            select(
                principals.c.id,
                principals.c.email,
                principals.c.org_id,
                principals.c.disabled_at,
                api_tokens.c.created,
                api_tokens.c.expires_at,
                api_tokens.c.last_used_at,
                api_tokens.c.revoked_at,
            )
            .join(principals, principals.c.id == api_tokens.c.principal_id)
            .where(api_tokens.c.token_hash == hash_token(token))
        )
    ).one_or_none()
    now = utcnow()
    if (
        row is None
        or row.org_id != org.org_id
        or row.disabled_at is not None
        or row.revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise NotFound(f"no valid API token of org {org.org_name} matches")
    return ApiClientResponse(
        _id=row.id,
        client_id=row.id,
        email=row.email,
        created=row.created,
        expiration=row.expires_at,
        last_used=row.last_used_at,
    )
