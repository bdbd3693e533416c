"""The org's audit log for its admins: entries with filters and paging, an export as JSON lines, and whether
the chain holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from arraylake.server.audit.queries import list_entries
from arraylake.server.audit.verify import verify_chain
from arraylake.server.deps import OrgName
from arraylake.server.errors import InvalidInput
from arraylake.server.policy import Action
from arraylake.server.web.rendering import is_htmx, render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import SignedIn, Viewer

router = pages_router()

PAGE_SIZE = 50
EXPORT_BATCH = 1000
Filter = Annotated[str, Query(max_length=320)]


@dataclass(frozen=True)
class AuditFilters:
    """The filters of the log as the GET form sends them (empty: no filter)."""

    principal: str = ""
    repo: str = ""
    action: str = ""
    since: str = ""
    until: str = ""

    def query(self, **extra: str) -> str:
        """The filters (and ``extra``) as a query string, leaving out those not given."""
        given = {k: v for k, v in vars(self).items() if v} | {k: v for k, v in extra.items() if v}
        return urlencode(given)

    def arguments(self) -> dict[str, Any]:
        """The filters as :func:`list_entries` takes them; 422 for a date that is not one."""
        return {
            "principal": self.principal.strip() or None,
            "repo": self.repo.strip() or None,
            "action": self.action.strip() or None,
            "since": _moment(self.since, "since", end_of_day=False),
            "until": _moment(self.until, "until", end_of_day=True),
        }


def audit_filters(
    principal: Filter = "", repo: Filter = "", action: Filter = "", since: Filter = "", until: Filter = ""
) -> AuditFilters:
    return AuditFilters(principal.strip(), repo.strip(), action.strip(), since.strip(), until.strip())


Filters = Annotated[AuditFilters, Depends(audit_filters)]


def _moment(text: str, what: str, *, end_of_day: bool) -> datetime | None:
    """A date (``2026-03-01``: the whole day counts, in UTC) or an ISO datetime (naive: UTC)."""
    text = text.strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            day = datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=UTC)
            return day + timedelta(days=1) - timedelta(microseconds=1) if end_of_day else day
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{what}: {text[:40]!r} is not a date (YYYY-MM-DD) or an ISO date and time"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _org_id(viewer: Viewer, org: str) -> str:
    return viewer.in_org(org, Action.VIEW_AUDIT).member.org_id


@router.get("/app/{org}/-/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    org: OrgName,
    viewer: SignedIn,
    filters: Filters,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = PAGE_SIZE,
) -> HTMLResponse:
    """The org's audit log, newest first, filtered as the form asks, ``limit`` entries a page."""
    org_id = _org_id(viewer, org)
    async with viewer.ctx.reader.connect() as conn:
        page = await list_entries(
            conn, org_id=org_id, limit=limit, cursor=cursor or None, **filters.arguments()
        )
    return render(
        request,
        viewer,
        "app/org_audit.html",
        org=org,
        section="audit",
        title=f"Audit log of {org}",
        page=page,
        filters=filters,
        first_page=not cursor,
        page_size="" if limit == PAGE_SIZE else str(limit),
    )


async def _lines(viewer: Viewer, org_id: str, arguments: dict[str, Any]) -> AsyncIterator[bytes]:
    cursor: str | None = None
    while True:
        async with viewer.ctx.reader.connect() as conn:  # not held between batches, while the client reads
            page = await list_entries(conn, org_id=org_id, limit=EXPORT_BATCH, cursor=cursor, **arguments)
        for entry in page.items:
            yield entry.model_dump_json().encode() + b"\n"
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


@router.get("/app/{org}/-/audit/export", response_model=None)
async def export(org: OrgName, viewer: SignedIn, filters: Filters) -> StreamingResponse:
    """Every entry the filters select, newest first, as JSON lines (one :class:`AuditEntry` a line)."""
    org_id = _org_id(viewer, org)
    arguments = filters.arguments()  # a bad date is a 422 page, before the download starts
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        _lines(viewer, org_id, arguments),
        media_type="application/x-ndjson",
        headers={
            "content-disposition": f'attachment; filename="audit-{org}-{stamp}.jsonl"',
            "cache-control": "no-store",
        },
    )


@router.get("/app/{org}/-/audit/verify", response_class=HTMLResponse)
async def verify_page(request: Request, org: OrgName, viewer: SignedIn) -> HTMLResponse:
    """Whether the whole chain holds (every org's entries are links of it): the page loads this after
    itself, since it reads every entry."""
    _org_id(viewer, org)
    async with viewer.ctx.reader.connect() as conn:
        result = await verify_chain(conn, viewer.ctx.signer)
    template = "app/_org_audit_verify.html" if is_htmx(request) else "app/org_audit_verify.html"
    return render(
        request, viewer, template, org=org, section="audit", title=f"Audit chain of {org}", result=result
    )
