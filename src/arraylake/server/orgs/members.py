"""An org's members and their roles: naming them, adding (by email: inviting), changing, removing them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record
from arraylake.server.db.locks import lock_org
from arraylake.server.db.schema import memberships, principals
from arraylake.server.errors import Conflict, InvalidInput, NotFound
from arraylake.server.identity.emails import login_key
from arraylake.server.identity.principals import OrgScope, Principal, PrincipalKind
from arraylake.server.identity.service import create_user, user_by_email, valid_email
from arraylake.types import OrgMember, OrgRole, utcnow


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
    """The org's active members (users first), with their roles."""
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


async def add_member(
    conn: AsyncConnection, org: OrgScope, ref: str, role: OrgRole, *, actor: Principal | None
) -> OrgMember:
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
        added = _member(await _membership_row(conn, org, principal.id))
    else:
        email = valid_email(ref)
        principal_id, kind = await principal_for_email(conn, org, email)
        await _insert_membership(conn, org, principal_id, email, role, invited=kind == PrincipalKind.USER)
        added = OrgMember(
            principal_id=uuid.UUID(principal_id), kind=kind, email=login_key(email), name=None, role=role
        )
    # Nothing in the entry tells whether the address had an account (see above).
    await _audit(
        conn, "member.add", org, actor, added.email, principal_id=added.principal_id, role=role.value
    )
    return added


async def _audit(
    conn: AsyncConnection, action: str, org: OrgScope, actor: Principal | None, target: str, **details: object
) -> None:
    await record(
        conn, action, actor=actor, org_id=org.org_id, org=org.org_name, target=target, details=details
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
    conn: AsyncConnection, org: OrgScope, principal_id: str, who: str, role: OrgRole, *, invited: bool = False
) -> None:
    try:
        async with conn.begin_nested():
            await add_membership(conn, org.org_id, principal_id, role, invited=invited)
    except IntegrityError as exc:
        raise Conflict(f"{who} is already a member of org {org.org_name}") from exc


async def refuse_last_admin(conn: AsyncConnection, org: OrgScope, principal_id: str) -> None:
    """409 if ``principal_id`` is the org's only active admin: an org always keeps one."""
    admins = (
        (
            await conn.execute(
                select(memberships.c.principal_id)
                .join(principals, principals.c.id == memberships.c.principal_id)
                .where(
                    memberships.c.org_id == org.org_id,
                    memberships.c.role == OrgRole.ADMIN,
                    principals.c.disabled_at.is_(None),
                )
            )
        )
        .scalars()
        .all()
    )
    if list(admins) == [principal_id]:
        raise Conflict(f"that is the last admin of org {org.org_name}: make someone else admin first")


async def set_role(
    conn: AsyncConnection, org: OrgScope, ref: str, role: OrgRole, *, actor: Principal | None
) -> OrgMember:
    """Change the role of a member named by email or id (never the last admin's away from admin)."""
    await lock_org(conn, org.org_id)
    current = await _member_row(conn, org, ref)
    if current.role == OrgRole.ADMIN and role != OrgRole.ADMIN:
        await refuse_last_admin(conn, org, current.id)
    await conn.execute(
        update(memberships)
        .where(memberships.c.org_id == org.org_id, memberships.c.principal_id == current.id)
        .values(role=role)
    )
    changed = _member(await _membership_row(conn, org, current.id))
    if current.role != role:
        await _audit(
            conn,
            "member.role_change",
            org,
            actor,
            changed.email,
            principal_id=current.id,
            previous_role=current.role,
            role=role.value,
        )
    return changed


async def remove_member(conn: AsyncConnection, org: OrgScope, ref: str, *, actor: Principal | None) -> None:
    """Remove a member named by email or id (never the last admin)."""
    await lock_org(conn, org.org_id)
    current = await _member_row(conn, org, ref)
    if current.role == OrgRole.ADMIN:
        await refuse_last_admin(conn, org, current.id)
    await conn.execute(
        delete(memberships).where(
            memberships.c.org_id == org.org_id, memberships.c.principal_id == current.id
        )
    )
    removed = _member(current)
    await _audit(conn, "member.remove", org, actor, removed.email, principal_id=current.id, role=current.role)


async def add_membership(
    conn: AsyncConnection, org_id: str, principal_id: str, role: OrgRole, *, invited: bool = False
) -> None:
    """Insert a membership. ``invited``: added by email, shown by the address alone until the user next
    signs in."""
    now = utcnow()
    await conn.execute(
        insert(memberships).values(
            org_id=org_id,
            principal_id=principal_id,
            role=role,
            created=now,
            invited_at=now if invited else None,
        )
    )


async def accept_invitations(conn: AsyncConnection, principal_id: str) -> None:
    """A user signed in: the orgs that added them by email may now see who they are."""
    await conn.execute(
        update(memberships)
        .where(memberships.c.principal_id == principal_id, memberships.c.invited_at.is_not(None))
        .values(invited_at=None)
    )


async def joined(conn: AsyncConnection, org: OrgScope) -> dict[str, tuple[datetime, bool]]:
    """When each member joined the org, and whether they were invited by email and have not signed in."""
    rows = await conn.execute(
        select(memberships.c.principal_id, memberships.c.created, memberships.c.invited_at).where(
            memberships.c.org_id == org.org_id
        )
    )
    return {r.principal_id: (r.created, r.invited_at is not None) for r in rows}
