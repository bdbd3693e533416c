"""Reading the audit log: pages of entries, newest first, filtered by org, principal, repo, action and time.

Pages are keyed on ``seq`` (an opaque cursor), so that a page costs the same however deep it is and entries
appended while a reader pages through never shift what it sees. With an org, the ``(org_id, seq)`` index
answers; a time range alone uses the ``at`` index.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import audit_log
from arraylake.server.errors import InvalidInput
from arraylake.types.audit import AuditEntry, AuditPage

MAX_LIMIT = 1000
_CURSOR_PREFIX = "seq:"


def to_wire(row: Row[Any]) -> AuditEntry:
    """An ``audit_log`` row as clients see it (the org by name; its id stays in the catalog)."""
    fields = dict(row._mapping)
    fields.pop("org_id", None)
    return AuditEntry.model_validate(fields)


def cursor_after(seq: int) -> str:
    """The cursor of the page of entries older than ``seq``."""
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{seq}".encode()).decode().rstrip("=")


def seq_before(cursor: str) -> int:
    """The ``seq`` a cursor points below; 422 for anything this service did not give out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        seq = int(text.removeprefix(_CURSOR_PREFIX))
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidInput("cursor: not a cursor this service gave out") from exc
    if seq < 1:
        raise InvalidInput("cursor: not a cursor this service gave out")
    return seq


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def action_filter(action: str) -> Any:
    """``action`` exactly, or, ending in ``.``, every action of that domain (``repo.``: all repo events)."""
    if action.endswith("."):
        return audit_log.c.action.startswith(action, autoescape=True)
    return audit_log.c.action == action


def filtered(
    query: Select[Any],
    *,
    org_id: str | None = None,
    principal: str | None = None,
    repo: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    """``query`` on ``audit_log`` narrowed by the filters given (``None``: no filter)."""
    if since is not None and until is not None and _utc(since) > _utc(until):
        raise InvalidInput(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
    if org_id is not None:
        query = query.where(audit_log.c.org_id == org_id)
    if principal:
        query = query.where(or_(audit_log.c.actor_id == principal, audit_log.c.actor == principal))
    if repo:
        query = query.where(audit_log.c.repo == repo)
    if action:
        query = query.where(action_filter(action))
    if since is not None:
        query = query.where(audit_log.c.at >= _utc(since))
    if until is not None:
        query = query.where(audit_log.c.at <= _utc(until))
    return query


async def list_entries(
    conn: AsyncConnection,
    *,
    org_id: str | None,
    principal: str | None = None,
    repo: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> AuditPage:
    """A page of entries, newest first (``org_id`` ``None``: of every org and of none).

    ``principal`` matches the actor's id or email; ``action`` an action exactly, or a domain given as a
    prefix ending in ``.``; ``since``/``until`` are inclusive. ``cursor`` is a page's ``next_cursor``.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit: between 1 and {MAX_LIMIT}, not {limit}")
    query = filtered(
        select(audit_log),
        org_id=org_id,
        principal=principal,
        repo=repo,
        action=action,
        since=since,
        until=until,
    )
    if cursor:
        query = query.where(audit_log.c.seq < seq_before(cursor))
    rows = (await conn.execute(query.order_by(audit_log.c.seq.desc()).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[to_wire(row) for row in rows], next_cursor=cursor_after(rows[-1].seq) if more else None
    )
