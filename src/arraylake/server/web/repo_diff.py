"""Comparing two snapshots of a repo: changed arrays, groups and attributes, a heat map of changed chunks."""

from __future__ import annotations

from arraylake.server.web.routing import pages_router

router = pages_router()
