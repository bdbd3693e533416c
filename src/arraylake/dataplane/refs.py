"""A ref of a data URL resolved to the snapshot it names: a snapshot id as is (when it exists), else a
branch, else a tag."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from fastapi import HTTPException

if TYPE_CHECKING:
    import icechunk

SNAPSHOT_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{20}$")
"""Icechunk snapshot ids: 20 characters of Crockford base32."""


class RefKind(StrEnum):
    SNAPSHOT = "snapshot"
    BRANCH = "branch"
    TAG = "tag"

    @property
    def immutable(self) -> bool:
        """Whether the ref always names the same snapshot (Icechunk never moves or reuses a tag)."""
        return self is not RefKind.BRANCH


@dataclass(frozen=True, slots=True)
class ResolvedRef:
    snapshot: str
    kind: RefKind


async def resolve_ref(repo: icechunk.Repository, ref: str, *, what: str) -> ResolvedRef:
    """The snapshot ``ref`` names in ``repo`` (``what`` names the repo in the 404's detail)."""
    import icechunk

    if SNAPSHOT_ID.match(ref):
        try:
            await repo.lookup_snapshot_async(ref)
            return ResolvedRef(ref, RefKind.SNAPSHOT)
        except icechunk.IcechunkError:
            pass
    try:
        return ResolvedRef(await repo.lookup_branch_async(ref), RefKind.BRANCH)
    except icechunk.IcechunkError:
        pass
    try:
        return ResolvedRef(await repo.lookup_tag_async(ref), RefKind.TAG)
    except icechunk.IcechunkError:
        pass
    raise HTTPException(status_code=404, detail=f"{what} has no branch, tag or snapshot named {ref!r}")
