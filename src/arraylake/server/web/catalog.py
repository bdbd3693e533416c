"""The catalog of an org: search, filter, sort and cursor pages of the repos the viewer may see."""

from __future__ import annotations

from arraylake.server.web.routing import pages_router

router = pages_router()
