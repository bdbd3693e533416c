"""Principals: loading them with their memberships and grants, users and their sign-in, issuing API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import (
    LIFECYCLE_ACTIVE,
    LIFECYCLE_GHOST,
    api_tokens,
    memberships,
    orgs,
    principals,
    repo_grants,
    repos,
)
from arraylake.server.errors import Conflict, InvalidInput
from arraylake.server.identity import passwords
from arraylake.server.identity.emails import login_key
from arraylake.server.identity.principals import Grant, Membership, Principal, PrincipalKind
from arraylake.server.identity.tokens import hash_token, new_token, token_hint
from arraylake.types import OrgRole, RepoActions, utcnow

_email: TypeAdapter[str] = TypeAdapter(EmailStr)


def valid_email(email: str) -> str:
    """The address, stripped, if it is a valid email address; else 422."""
    try:
        return _email.validate_python(email.strip())
    except ValidationError as exc:
        raise InvalidInput(f"{email!r} is not a valid email address") from exc


# ------------------------------------------------------------------------------------------------ loading

_PRINCIPAL_COLUMNS = (
    principals.c.id,
    principals.c.kind,
    principals.c.email,
    principals.c.display_name,
    principals.c.first_name,
    principals.c.family_name,
    principals.c.disabled_at,
)


async def _with_access(conn: AsyncConnection, row: Row, **extra: Any) -> Principal:
    member_rows = await conn.execute(
        select(memberships.c.org_id, memberships.c.role, orgs.c.name)
        .join(orgs, orgs.c.id == memberships.c.org_id)
        .where(memberships.c.principal_id == row.id)
    )
    grant_rows = await conn.execute(
        select(repo_grants.c.action, repos.c.id, repos.c.name, repos.c.org_id, orgs.c.name.label("org_name"))
        .join(repos, repos.c.id == repo_grants.c.repo_id)
        .join(orgs, orgs.c.id == repos.c.org_id)
        .where(
            repo_grants.c.principal_id == row.id,
            # Ghosts keep their grants (and their name): whoever may manage a repo may restore it.
            repos.c.lifecycle.in_((LIFECYCLE_ACTIVE, LIFECYCLE_GHOST)),
        )
    )
    actions: dict[tuple[str, str], tuple[str, str, set[RepoActions]]] = {}
    for g in grant_rows:
        actions.setdefault((g.org_name, g.name), (g.org_id, g.id, set()))[2].add(RepoActions(g.action))
    return Principal(
        id=row.id,
        kind=PrincipalKind(row.kind),
        email=row.email,
        display_name=row.display_name,
        first_name=row.first_name,
        family_name=row.family_name,
        memberships={m.name: Membership(m.org_id, m.name, OrgRole(m.role)) for m in member_rows},
        grants={
            key: Grant(org_id, repo_id, frozenset(acts)) for key, (org_id, repo_id, acts) in actions.items()
        },
        **extra,
    )


async def principal_for_token_hash(conn: AsyncConnection, token_hash: str) -> Principal | None:
    """The active principal an API token belongs to; ``None`` if the token is unknown, expired or revoked."""
    row = (
        await conn.execute(
            select(
                *_PRINCIPAL_COLUMNS,
                api_tokens.c.id.label("token_id"),
                api_tokens.c.expires_at,
                api_tokens.c.revoked_at,
            )
            .join(principals, principals.c.id == api_tokens.c.principal_id)
            .where(api_tokens.c.token_hash == token_hash)
        )
    ).one_or_none()
    if row is None or row.revoked_at is not None or row.disabled_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    return await _with_access(conn, row, token_id=row.token_id, token_expires_at=row.expires_at)


async def principal_by_id(conn: AsyncConnection, principal_id: str, **extra: Any) -> Principal | None:
    """An active principal by id, with its memberships and grants."""
    try:
        uuid.UUID(principal_id)
    except ValueError:
        return None
    row = (
        await conn.execute(select(*_PRINCIPAL_COLUMNS).where(principals.c.id == principal_id))
    ).one_or_none()
    if row is None or row.disabled_at is not None:
        return None
    return await _with_access(conn, row, **extra)


async def email_of(conn: AsyncConnection, principal_id: str | None) -> str | None:
    """A principal's email (how audit entries name actors), if it exists."""
    if principal_id is None:
        return None
    return (
        await conn.execute(select(principals.c.email).where(principals.c.id == principal_id))
    ).scalar_one_or_none()


async def touch_token(conn: AsyncConnection, token_id: str) -> None:
    """Note that a token was just used."""
    await conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=utcnow()))


# -------------------------------------------------------------------------------------------------- users


async def create_user(
    conn: AsyncConnection,
    *,
    email: str,
    password: str | None,
    first_name: str | None = None,
    family_name: str | None = None,
    external_subject: str | None = None,
) -> str:
    """Create a user; return their id. A user without a password signs in only through OIDC.

    An address an org invited (see :func:`arraylake.server.orgs.members.add_member`) is taken over: the
    invited account becomes this user's, with its memberships.
    """
    email = valid_email(email)
    if password is not None:
        try:
            passwords.check_password_strength(password)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
    user_id = str(uuid.uuid4())
    name = " ".join(p for p in (first_name, family_name) if p) or email.split("@")[0]
    password_hash = passwords.hash_password(password) if password else None
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(principals).values(
                    id=user_id,
                    kind=PrincipalKind.USER,
                    email=email,
                    login_email=login_key(email),
                    first_name=first_name,
                    family_name=family_name,
                    display_name=name,
                    created=utcnow(),
                    password_hash=password_hash,
                    external_subject=external_subject,
                )
            )
    except IntegrityError as exc:
        invited = await invited_user(conn, email)
        if invited is None:
            raise Conflict(f"a user with email {email} already exists") from exc
        await conn.execute(
            update(principals)
            .where(principals.c.id == invited)
            .values(
                email=email,
                first_name=first_name,
                family_name=family_name,
                display_name=name,
                password_hash=password_hash,
                external_subject=external_subject,
            )
        )
        return invited
    return user_id


async def invited_user(conn: AsyncConnection, email: str) -> str | None:
    """The account an org made for this address by adding it as a member before anyone signed up with it
    (no password, no external account): its id, else ``None``."""
    row = await user_by_email(conn, email)
    if row is None or row.password_hash is not None:
        return None
    linked = await conn.execute(select(principals.c.external_subject).where(principals.c.id == row.id))
    return row.id if linked.scalar_one() is None else None


async def user_by_email(conn: AsyncConnection, email: str) -> Row | None:
    """The user signing in with this address (id, password hash, disabled), if any."""
    return (
        await conn.execute(
            select(principals.c.id, principals.c.password_hash, principals.c.disabled_at).where(
                principals.c.login_email == login_key(email), principals.c.kind == PrincipalKind.USER
            )
        )
    ).one_or_none()


async def check_password(conn: AsyncConnection, email: str, password: str) -> str | None:
    """The id of the active user with this email and password, else ``None`` (same time either way)."""
    row = await user_by_email(conn, email)
    ok = passwords.verify_password(row.password_hash if row else None, password)
    if not ok or row is None or row.disabled_at is not None:
        return None
    return row.id


async def user_for_external_account(
    conn: AsyncConnection,
    *,
    subject: str,
    email: str,
    first_name: str | None,
    family_name: str | None,
    create: bool,
) -> tuple[str | None, str]:
    """The user linked to an external (OIDC) account: by subject, else by email (then linked), else new.

    Returns (user id or ``None``, how: ``existing``, ``linked``, ``created`` or ``none``).
    """
    linked = (
        await conn.execute(select(principals.c.id).where(principals.c.external_subject == subject))
    ).scalar_one_or_none()
    if linked is not None:
        return linked, "existing"
    existing = await user_by_email(conn, email)
    if existing is not None:
        await conn.execute(
            update(principals).where(principals.c.id == existing.id).values(external_subject=subject)
        )
        return existing.id, "linked"
    if not create:
        return None, "none"
    created = await create_user(
        conn,
        email=email,
        password=None,
        first_name=first_name,
        family_name=family_name,
        external_subject=subject,
    )
    return created, "created"


# ------------------------------------------------------------------------------------------------- tokens


async def issue_token(
    conn: AsyncConnection, principal_id: str, *, name: str = "", expires_at: datetime | None = None
) -> tuple[str, str]:
    """Create a token for a principal; return (token id, token in clear: the only time it exists so)."""
    token = new_token()
    token_id = str(uuid.uuid4())
    await conn.execute(
        insert(api_tokens).values(
            id=token_id,
            token_hash=hash_token(token),
            hint=token_hint(token),
            principal_id=principal_id,
            name=name,
            created=utcnow(),
            expires_at=expires_at,
        )
    )
    return token_id, token
