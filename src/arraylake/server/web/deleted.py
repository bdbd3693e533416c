"""The org's deleted repos, with their purge dates; restore."""

from __future__ import annotations

from arraylake.server.web.routing import pages_router

router = pages_router()
