"""The catalog of an org: search, filter, sort and cursor pages of the repos the viewer may see."""

from __future__ import annotations

import json
from typing import Any, cast
from urllib.parse import urlencode

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from arraylake.server.deps import OrgName
from arraylake.server.errors import InvalidInput
from arraylake.server.policy import Action
from arraylake.server.repos.search import MAX_PAGE_SIZE, SORTS, RepoSearch, Sort, search_repos
from arraylake.server.web.rendering import is_htmx, render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import SignedIn
from arraylake.types import MetadataScalar, RepoKind, RepoOperationMode

router = pages_router()

SORT_LABELS = {
    "name": "Name, A to Z",
    "-name": "Name, Z to A",
    "-updated": "Recently updated",
    "updated": "Least recently updated",
}


def _choice(name: str, raw: str | None, allowed: list[str]) -> str | None:
    """An optional choice of a form's select: empty means any; anything else must be one of ``allowed``."""
    if not raw:
        return None
    if raw not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)} (got {raw!r})")
    return raw


def _meta_pairs(raw: list[str]) -> list[tuple[str, list[MetadataScalar]]]:
    """``key:value`` pairs; the value matches as text and, when it reads as a JSON number or boolean, as
    that too (``year:2020`` finds ``2020`` and ``"2020"``)."""
    pairs: list[tuple[str, list[MetadataScalar]]] = []
    for item in raw:
        if not item.strip():
            continue
        key, sep, value = item.partition(":")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"meta must be key:value, e.g. project:era5 (got {item!r})")
        value = value.strip()
        candidates: list[MetadataScalar] = [value]
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, bool | int | float) and not isinstance(parsed, str):
            candidates.append(parsed)
        pairs.append((key, candidates))
    return pairs


@router.get("/app/{org}", response_class=HTMLResponse)
async def catalog_page(
    request: Request,
    viewer: SignedIn,
    org: OrgName,
    q: str = Query(default="", max_length=200),
    status: str | None = Query(default=None),
    kind: str | None = Query(default=None),
    meta: list[str] = Query(default_factory=list, max_length=20),
    bucket: str | None = Query(default=None, max_length=64),
    sort: str = Query(default="name"),
    after: str | None = Query(default=None, max_length=1000),
    size: int = Query(default=50, ge=1, le=MAX_PAGE_SIZE),
) -> HTMLResponse:
    """The repos of the org the viewer may see, found by text, status, kind, metadata and bucket, sorted
    by name or last update, a page at a time (``after``: the cursor of the previous page)."""
    visible = viewer.visible(org)
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)} (got {sort!r})")
    status = _choice("status", status, [m.value for m in RepoOperationMode])
    kind = _choice("kind", kind, [k.value for k in RepoKind])
    query = RepoSearch(
        text=q.strip(),
        status=RepoOperationMode(status) if status else None,
        kind=RepoKind(kind) if kind else None,
        meta=_meta_pairs(meta),
        bucket=bucket.strip() or None if bucket else None,
        sort=cast(Sort, sort),
        after=after or None,
        size=size,
    )
    async with viewer.ctx.reader.connect() as conn:
        page = await search_repos(conn, visible.scope, only_names=visible.names, query=query)

    params: list[tuple[str, str]] = [("q", query.text)] if query.text else []
    params += [(name, value) for name, value in (("status", status), ("kind", kind)) if value]
    params += [("meta", item) for item in meta if item.strip()]
    if query.bucket:
        params.append(("bucket", query.bucket))
    if sort != "name":
        params.append(("sort", sort))
    if size != 50:
        params.append(("size", str(size)))
    base = f"/app/{org}"
    first_url = f"{base}?{urlencode(params)}" if params else base
    next_url = f"{base}?{urlencode([*params, ('after', page.next_cursor)])}" if page.next_cursor else None
    context: dict[str, Any] = {
        "org": org,
        "section": "catalog",
        "page": page,
        "query": query,
        "meta": [item for item in meta if item.strip()],
        "status_value": status or "",
        "kind_value": kind or "",
        "sort_labels": SORT_LABELS,
        "first_url": first_url if after else None,
        "next_url": next_url,
        "sees_all": visible.names is None,
        "may_create": viewer.may(org, Action.CREATE_REPO),
        "statuses": [m.value for m in RepoOperationMode],
        "kinds": [k.value for k in RepoKind],
        "size": size,
    }
    template = "app/_catalog_results.html" if is_htmx(request) else "app/catalog.html"
    return render(request, viewer, template, title=f"{org}: repositories", **context)
