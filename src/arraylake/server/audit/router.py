"""The audit log's endpoints: org admins read their org's entries; service operators read and verify all.

``/orgs/{org}/audit/...`` is for the org's admins (a member with a weaker role gets 403, anyone else 404);
``/audit/...`` for the service's operators (users listed in the ``operators`` setting). An org admin may
verify the whole chain (their entries are only as trustworthy as the chain), but the answer names only
``seq`` numbers and the kind of break, nothing of other orgs' entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select

from arraylake.server.audit import queries
from arraylake.server.audit.verify import verify_chain
from arraylake.server.db.schema import orgs
from arraylake.server.deps import Authenticated, Caller, InOrg, MemberMay
from arraylake.server.policy import Action, authorize_operator, org_not_found
from arraylake.server.wire import wire_json
from arraylake.types.audit import AuditPage, AuditVerification

router = APIRouter(tags=["audit"])

if TYPE_CHECKING:
    AuditViewer = InOrg
else:
    AuditViewer = MemberMay(Action.VIEW_AUDIT)


async def _operator(call: Authenticated) -> Caller:
    authorize_operator(call.principal, call.ctx.settings.operators)
    return call


Operator = Annotated[Caller, Depends(_operator)]
"""Given to the service's operators (403 for everyone else)."""


@dataclass(frozen=True, slots=True)
class EntryFilters:
    """The query parameters that narrow a listing of entries."""

    principal: str | None
    repo: str | None
    action: str | None
    since: datetime | None
    until: datetime | None
    limit: int
    cursor: str | None

    def query(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "repo": self.repo,
            "action": self.action,
            "since": self.since,
            "until": self.until,
            "limit": self.limit,
            "cursor": self.cursor,
        }


async def _filters(
    principal: str | None = Query(
        default=None, max_length=320, description="Only entries of this actor (a principal's id or email)"
    ),
    repo: str | None = Query(default=None, max_length=128, description="Only entries about this repo"),
    action: str | None = Query(
        default=None,
        max_length=64,
        description="Only this action (e.g. repo.delete), or, ending in '.', every action of a domain "
        "(e.g. repo.)",
    ),
    since: datetime | None = Query(default=None, description="Only entries at or after (ISO 8601)"),
    until: datetime | None = Query(default=None, description="Only entries at or before (ISO 8601)"),
    limit: int = Query(default=100, ge=1, le=queries.MAX_LIMIT, description="Entries per page"),
    cursor: str | None = Query(
        default=None, max_length=64, description="The next_cursor of the previous page (older entries)"
    ),
) -> EntryFilters:
    return EntryFilters(principal, repo, action, since, until, limit, cursor)


Filters = Annotated[EntryFilters, Depends(_filters)]


@router.get("/orgs/{org}/audit/entries", response_model=AuditPage)
async def list_org_entries(call: AuditViewer, filters: Filters) -> Response:
    """The org's audit log, newest first, a page at a time (org admins)."""
    async with call.ctx.reader.connect() as conn:
        page = await queries.list_entries(conn, org_id=call.member.org_id, **filters.query())
    return wire_json(page)


@router.get("/orgs/{org}/audit/verify", response_model=AuditVerification)
async def verify_for_org(call: AuditViewer) -> Response:
    """Verify the whole audit chain (org admins): whether it holds, or the first ``seq`` where it breaks."""
    async with call.ctx.reader.connect() as conn:
        return wire_json(await verify_chain(conn, call.ctx.signer))


@router.get("/audit/entries", response_model=AuditPage)
async def list_all_entries(
    call: Operator,
    filters: Filters,
    org: str | None = Query(default=None, max_length=64, description="Only entries of this org"),
) -> Response:
    """Every org's audit log, and the service's own entries, newest first (operators)."""
    async with call.ctx.reader.connect() as conn:
        org_id = None
        if org is not None:
            org_id = (await conn.execute(select(orgs.c.id).where(orgs.c.name == org))).scalar_one_or_none()
            if org_id is None:
                raise org_not_found(org)
        page = await queries.list_entries(conn, org_id=org_id, **filters.query())
    return wire_json(page)


@router.get("/audit/verify", response_model=AuditVerification)
async def verify_all(call: Operator) -> Response:
    """Verify the whole audit chain (operators): whether it holds, or the first entry where it breaks."""
    async with call.ctx.reader.connect() as conn:
        return wire_json(await verify_chain(conn, call.ctx.signer))
