"""Writing audit entries: :func:`record` inside the transaction of the change it records, :func:`record_alone`
for events that change nothing (a refused sign-in, a credential vend).

Every security-relevant change calls :func:`record` on the connection of its own transaction, last, just
before the commit: the entry lands with the change or not at all. Appending takes the row lock of
``audit_head`` (an ``UPDATE``), so appends are serialized and each sees the hash of the one before.
Never put a secret (token, key, password, session id) in ``details``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

import structlog
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arraylake.server.audit.chain import entry_hash, plain_details
from arraylake.server.catalog_cache import cache_neutral
from arraylake.server.db.schema import AUDIT_HEAD_ID, audit_head, audit_log
from arraylake.server.identity.principals import Principal
from arraylake.types import utcnow

SERVICE_ACTOR = "arraylake-service"
"""The actor of what the service does on its own (maintenance runs, purges)."""

client_address: ContextVar[str | None] = ContextVar("audit_client_address", default=None)
"""The address of the client of the current request (set by the request middleware)."""


def actor_of(principal: Principal | None) -> tuple[str | None, str | None]:
    """(actor_id, actor) for a principal: its id and its email."""
    if principal is None:
        return None, None
    return principal.id, principal.email


async def record(
    conn: AsyncConnection,
    action: str,
    *,
    actor: Principal | None = None,
    actor_id: str | None = None,
    actor_name: str | None = None,
    org_id: str | None = None,
    org: str | None = None,
    repo: str | None = None,
    target: str | None = None,
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry in ``conn``'s transaction; returns its ``seq``.

    ``action`` is ``domain.verb`` (e.g. ``repo.delete``). The actor is ``actor`` (a principal) or
    ``actor_id``/``actor_name`` (e.g. a failed sign-in's email, or :data:`SERVICE_ACTOR`).
    """
    if actor is not None:
        actor_id, actor_name = actor_of(actor)
    head = (
        await conn.execute(
            update(audit_head)
            .where(audit_head.c.id == AUDIT_HEAD_ID)
            .values(seq=audit_head.c.seq + 1)
            .returning(audit_head.c.seq, audit_head.c.hash)
        )
    ).one()
    context = structlog.contextvars.get_contextvars()
    entry: dict[str, Any] = {
        "seq": head.seq,
        "at": utcnow(),
        "action": action,
        "outcome": outcome,
        "org_id": org_id,
        "org": org,
        "actor_id": actor_id,
        "actor": actor_name,
        "repo": repo,
        "target": target,
        "details": plain_details(details or {}),
        "request_id": context.get("request_id"),
        "client_address": client_address.get(),
        "prev_hash": head.hash,
    }
    entry["hash"] = entry_hash(entry)
    await conn.execute(insert(audit_log).values(**entry))
    await conn.execute(update(audit_head).where(audit_head.c.id == AUDIT_HEAD_ID).values(hash=entry["hash"]))
    return int(head.seq)


async def record_alone(engine: AsyncEngine, action: str, **fields: Any) -> int:
    """Append one entry in a transaction of its own (for events that change nothing else)."""
    async with engine.begin() as conn:
        cache_neutral(conn)
        return await record(conn, action, **fields)
