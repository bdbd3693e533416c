"""Managing access to an org: its members and their roles, its API clients and their tokens."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydantic import SecretStr
from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.locks import lock_org
from arraylake.server.db.schema import api_tokens, memberships, principals, repo_grants
from arraylake.server.errors import Conflict, InvalidInput, NotFound
from arraylake.server.identity.emails import login_key
from arraylake.server.identity.principals import Membership, OrgScope, PrincipalKind, Role
from arraylake.server.identity.service import (
    add_membership,
    create_api_client,
    create_user,
    issue_token,
    user_by_email,
    valid_email,
)
from arraylake.server.identity.tokens import hash_token
from arraylake.types import (
    ApiClientInfo,
    ApiClientResponse,
    ApiTokenCreated,
    ApiTokenSummary,
    OrgMember,
    utcnow,
)


async def resolve_principal(conn: AsyncConnection, org: OrgScope, ref: str) -> Row:
    """A principal named by email (a user, or an API client of this org) or by id; 404 if there is none.

    API clients of other orgs are never found: they cannot be members or grantees elsewhere.
    """
    query = select(
        principals.c.id, principals.c.kind, principals.c.email, principals.c.display_name, principals.c.org_id
    )
    if "@" in ref:
        lowered = login_key(ref)
        query = query.where(
            ((principals.c.login_email == lowered) & (principals.c.kind == PrincipalKind.USER))
            | ((func.lower(principals.c.email) == lowered) & (principals.c.org_id == org.org_id))
        )
    else:
        try:
            uuid.UUID(ref)
        except ValueError as exc:
            raise InvalidInput(f"{ref!r} is neither an email address nor a principal id") from exc
        query = query.where(principals.c.id == ref)
    row = (await conn.execute(query.where(principals.c.disabled_at.is_(None)))).first()
    if row is None or (row.kind == PrincipalKind.API_CLIENT and row.org_id != org.org_id):
        raise NotFound(f"no user or API client {ref} (API clients must belong to org {org.org_name})")
    return row


# ------------------------------------------------------------------------------------------------ members


def _member(row: Row) -> OrgMember:
    if row.invited_at is not None:  # added by email and not signed in since: the address alone
        return OrgMember(principal_id=row.id, kind=row.kind, email=row.login_email, name=None, role=row.role)
    return OrgMember(
        principal_id=row.id, kind=row.kind, email=row.email, name=row.display_name, role=row.role
    )


def _members() -> Select:
    """Principals with their role in an org (add the org and other conditions with ``where``)."""
    return select(
        principals.c.id,
        principals.c.kind,
        principals.c.email,
        principals.c.login_email,
        principals.c.display_name,
        memberships.c.role,
        memberships.c.invited_at,
    ).join(memberships, memberships.c.principal_id == principals.c.id)


def _not_a_member(org: OrgScope, ref: str) -> NotFound:
    # The same answer for an address without an account and for an account that is not a member.
    return NotFound(f"{ref} is not a member of org {org.org_name}")


async def _member_row(conn: AsyncConnection, org: OrgScope, ref: str) -> Row:
    """The membership of the principal named by ``ref`` (email or id); 404 alike when there is no such
    principal and when it is not a member."""
    try:
        principal = await resolve_principal(conn, org, ref)
        return await _membership_row(conn, org, principal.id)
    except NotFound:
        raise _not_a_member(org, ref) from None


async def list_members(conn: AsyncConnection, org: OrgScope) -> list[OrgMember]:
    rows = await conn.execute(
        _members()
        .where(memberships.c.org_id == org.org_id, principals.c.disabled_at.is_(None))
        .order_by(principals.c.kind.desc(), principals.c.email)
    )
    return [_member(r) for r in rows]


async def _membership_row(conn: AsyncConnection, org: OrgScope, principal_id: str) -> Row:
    row = (
        await conn.execute(
            _members().where(memberships.c.org_id == org.org_id, memberships.c.principal_id == principal_id)
        )
    ).one_or_none()
    if row is None:
        raise _not_a_member(org, principal_id)
    return row


async def add_member(conn: AsyncConnection, org: OrgScope, ref: str, role: Role) -> OrgMember:
    """Make a principal, named by email or id, a member of the org with a role.

    By email, the answer never tells whether the address has an account on the service (an admin of any
    org could otherwise probe addresses): an address without one is invited, i.e. gets an account with no
    password and no sign-in, which whoever later signs up or signs in through OIDC with that address takes
    over, membership included. Either way the answer is 201 with a new or existing id, the address as
    given and no name; an address that already is a member is 409 either way.
    """
    if "@" not in ref:
        principal = await resolve_principal(conn, org, ref)
        await _insert_membership(conn, org, principal.id, principal.email, role)
        return _member(await _membership_row(conn, org, principal.id))
    email = valid_email(ref)
    principal_id, kind = await principal_for_email(conn, org, email)
    await _insert_membership(conn, org, principal_id, email, role, invited=kind == PrincipalKind.USER)
    return OrgMember(
        principal_id=uuid.UUID(principal_id), kind=kind, email=login_key(email), name=None, role=role
    )


async def principal_for_email(conn: AsyncConnection, org: OrgScope, email: str) -> tuple[str, PrincipalKind]:
    """The principal of an address (a user, or an API client of this org); an address without an account
    is invited: it gets one with no password and no sign-in, which whoever signs up with it takes over."""
    try:
        found = await resolve_principal(conn, org, email)
        return found.id, PrincipalKind(found.kind)
    except NotFound:
        pass
    try:
        invited = await create_user(conn, email=email, password=None)
    except Conflict:  # a disabled account, or one that another request invited a moment ago
        existing = await user_by_email(conn, email)
        if existing is None:
            raise
        invited = existing.id
    return invited, PrincipalKind.USER


async def _insert_membership(
    conn: AsyncConnection, org: OrgScope, principal_id: str, who: str, role: Role, *, invited: bool = False
) -> None:
    try:
        async with conn.begin_nested():
            await add_membership(conn, org.org_id, principal_id, role, invited=invited)
    except IntegrityError as exc:
        raise Conflict(f"{who} is already a member of org {org.org_name}") from exc


async def _refuse_last_admin(conn: AsyncConnection, org: OrgScope, principal_id: str) -> None:
    admins = (
        (
            await conn.execute(
                select(memberships.c.principal_id)
                .join(principals, principals.c.id == memberships.c.principal_id)
                .where(
                    memberships.c.org_id == org.org_id,
                    memberships.c.role == Role.ADMIN,
                    principals.c.disabled_at.is_(None),
                )
            )
        )
        .scalars()
        .all()
    )
    if list(admins) == [principal_id]:
        raise Conflict(f"that is the last admin of org {org.org_name}: make someone else admin first")


async def set_role(conn: AsyncConnection, org: OrgScope, ref: str, role: Role) -> OrgMember:
    await lock_org(conn, org.org_id)
    current = await _member_row(conn, org, ref)
    if current.role == Role.ADMIN and role != Role.ADMIN:
        await _refuse_last_admin(conn, org, current.id)
    await conn.execute(
        update(memberships)
        .where(memberships.c.org_id == org.org_id, memberships.c.principal_id == current.id)
        .values(role=role)
    )
    return _member(await _membership_row(conn, org, current.id))


async def remove_member(conn: AsyncConnection, org: OrgScope, ref: str) -> None:
    await lock_org(conn, org.org_id)
    current = await _member_row(conn, org, ref)
    if current.role == Role.ADMIN:
        await _refuse_last_admin(conn, org, current.id)
    await conn.execute(
        delete(memberships).where(
            memberships.c.org_id == org.org_id, memberships.c.principal_id == current.id
        )
    )


# -------------------------------------------------------------------------------------------- API clients


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
    try:
        uuid.UUID(client_id)
    except ValueError as exc:
        raise NotFound(f"API client {client_id} not found in org {org.org_name}") from exc
    found = await list_api_clients(conn, org, only=client_id)
    if not found:
        raise NotFound(f"API client {client_id} not found in org {org.org_name}")
    return found[0]


async def new_api_client(
    conn: AsyncConnection, org: OrgScope, *, name: str, role: Role, expires_in_days: float | None
) -> tuple[ApiClientInfo, ApiTokenCreated]:
    client_id = await create_api_client(conn, org_id=org.org_id, name=name, role=role)
    token = await new_api_token(conn, org, client_id, name="first token", expires_in_days=expires_in_days)
    return await api_client(conn, org, client_id), token


async def new_api_token(
    conn: AsyncConnection, org: OrgScope, client_id: str, *, name: str, expires_in_days: float | None
) -> ApiTokenCreated:
    client = await api_client(conn, org, client_id)
    if client.disabled_at is not None:
        raise Conflict(f"API client {client_id} has been revoked")
    expires_at = _expiry(expires_in_days)
    token_id, token = await issue_token(conn, client_id, name=name, expires_at=expires_at)
    return ApiTokenCreated(
        id=uuid.UUID(token_id),
        client_id=uuid.UUID(client_id),
        token=SecretStr(token),
        expires_at=expires_at,
    )


async def revoke_api_token(conn: AsyncConnection, org: OrgScope, client_id: str, token_id: str) -> None:
    await api_client(conn, org, client_id)
    result = await conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.id == token_id,
            api_tokens.c.principal_id == client_id,
            api_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    if result.rowcount != 1:
        raise NotFound(f"no active token {token_id} for API client {client_id}")


async def revoke_api_client(conn: AsyncConnection, org: Membership, client_id: str) -> None:
    """Disable an API client and revoke its tokens; an org's last admin cannot be revoked."""
    await lock_org(conn, org.org_id)
    client = await api_client(conn, org, client_id)
    if client.role == Role.ADMIN:
        await _refuse_last_admin(conn, org, client_id)
    now = utcnow()
    await conn.execute(update(principals).where(principals.c.id == client_id).values(disabled_at=now))
    await conn.execute(delete(repo_grants).where(repo_grants.c.principal_id == client_id))
    await conn.execute(
        update(api_tokens)
        .where(api_tokens.c.principal_id == client_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
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
