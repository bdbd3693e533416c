"""The org's compute services: status, logs, enable and disable."""

from __future__ import annotations

from arraylake.server.web.routing import pages_router

router = pages_router()
