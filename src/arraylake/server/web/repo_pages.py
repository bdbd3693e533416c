"""A repo's pages: overview, the group/array tree of a ref, branches and tags, commit history."""

from __future__ import annotations

from arraylake.server.web.routing import pages_router

router = pages_router()
