"""The web app: every page module's routes, in the order that keeps the org-wide pages (``/app/{org}/-/...``)
ahead of the repo pages (``/app/{org}/{repo}/...``), and its static files."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from arraylake.server.web import (
    account,
    catalog,
    deleted,
    org_api_clients,
    org_audit,
    org_buckets,
    org_compute,
    org_maintenance,
    org_members,
    repo_data,
    repo_diff,
    repo_maintenance,
    repo_pages,
    repo_settings,
)
from arraylake.server.web.rendering import STATIC, STATIC_URL

router = APIRouter(include_in_schema=False)
for pages in (
    account,
    deleted,
    org_members,
    org_api_clients,
    org_buckets,
    org_compute,
    org_maintenance,
    org_audit,
    repo_settings,
    repo_maintenance,
    catalog,
    repo_diff,
    repo_data,
    repo_pages,
):
    router.include_router(pages.router)
router.include_router(account.fallback)

static_files = StaticFiles(directory=STATIC)
"""htmx and the stylesheet, from the package (mounted at ``STATIC_URL``)."""
MOUNT = STATIC_URL
