"""HTTP caching pinned to snapshots.

Every data response names its snapshot (``X-Arraylake-Snapshot``) and carries a strong ETag derived from
what determines its bytes: snapshot, group, protocol, the protocol's path, the query and the public URL its
links point to. A snapshot or tag
URL always names the same snapshot (Icechunk never moves or reuses a tag), so its responses are immutable;
a branch URL revalidates, and a matching ``If-None-Match`` is answered 304 before any data is read.
"""

from __future__ import annotations

import hashlib

from arraylake.dataplane.refs import RefKind

SNAPSHOT_HEADER = "X-Arraylake-Snapshot"
ONE_YEAR = 31_536_000


def etag(snapshot: str, group: str, protocol: str, path: str, query: str, public_prefix: str = "") -> str:
    """A strong ETag (quoted) for a response of ``snapshot`` (``public_prefix``: where its links point)."""
    parts = (snapshot, group, protocol, path, query, public_prefix)
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return f'"{snapshot}-{digest[:24]}"'


def cache_control(kind: RefKind, *, is_public: bool, branch_max_age: int) -> str:
    """``Cache-Control`` of a successful data response."""
    if kind.immutable:
        return f"{'public' if is_public else 'private'}, max-age={ONE_YEAR}, immutable"
    if branch_max_age > 0:
        return f"{'public' if is_public else 'private'}, max-age={branch_max_age}, must-revalidate"
    return "no-cache"


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``tag`` (weak comparison, as RFC 9110 asks for it)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = tag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == bare for candidate in if_none_match.split(","))
