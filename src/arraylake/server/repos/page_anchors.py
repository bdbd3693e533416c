"""Anchors for deep pages of an org's repos by number, cached in-process.

An org's anchors are the ``(name, id)`` of every ``spacing``-th active repo in page order (name, id). A page
at offset N seeks through the index to the anchor before N and skips fewer than ``spacing`` entries,
instead of N. Anchors hold for one ``orgs.repo_list_version``, which database triggers bump with every
change to the list (migration 0006), whichever process makes it: the caller checks that the page was read
at the anchors' version (:meth:`PageAnchors.discard` them otherwise), so no page comes from stale anchors.

Building them reads the org's whole index, so an org gets a rebuild only once a quiet interval,
``quiet_factor`` times the last rebuild's cost, has passed since it; until then pages use OFFSET (always
correct). An org that changes constantly thus spends at most ``1 / quiet_factor`` of a process on rebuilds.
Concurrent requests for one org share one rebuild.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import LIFECYCLE_ACTIVE, orgs, repos
from arraylake.server.logs import get_logger
from arraylake.server.single_flight import SingleFlight

# Chosen by measurement (README, Performance): skipping 1,000 index entries costs well under a millisecond,
# and an org of 1,000,000 repos needs 1,000 anchors (~100 kB).
SPACING = 1000
QUIET_FACTOR = 20
MAX_ORGS = 1000
log = get_logger("arraylake.server.repos")


@dataclass(frozen=True)
class Seek:
    """Where a page starts: at the repo ``(name, id)`` and ``skip`` repos further, if at ``version``."""

    version: int
    name: str
    id: str
    skip: int


@dataclass(frozen=True)
class Anchors:
    """An org's anchors at one version: ``keys[j]`` is the repo at position ``(j + 1) * spacing``."""

    version: int
    keys: list[tuple[str, str]]


@dataclass
class _Org:
    anchors: Anchors | None
    rebuild_after: float


class PageAnchors:
    """Per org, the anchors of its latest rebuild in this process, and when it may rebuild again."""

    def __init__(
        self,
        spacing: int = SPACING,
        *,
        quiet_factor: float = QUIET_FACTOR,
        max_orgs: int = MAX_ORGS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spacing = spacing
        self.quiet_factor = quiet_factor
        self.max_orgs = max_orgs
        self.clock = clock
        self._orgs: OrderedDict[str, _Org] = OrderedDict()
        self._flights: SingleFlight[str, Anchors | None] = SingleFlight()

    async def seek(self, conn: AsyncConnection, org_id: str, offset: int) -> Seek | None:
        """Where the page at ``offset`` starts, from the org's anchors (rebuilt if missing and allowed);
        None when OFFSET should answer: a shallow page, a page past the end, or no anchors to use."""
        if offset < self.spacing:
            return None
        entry = self._orgs.get(org_id)
        anchors = entry.anchors if entry is not None else None
        if anchors is None:
            if entry is not None and self.clock() < entry.rebuild_after:
                return None
            anchors = await self._flights.run(org_id, lambda: self._rebuild(conn, org_id))
            if anchors is None:
                return None
        else:
            self._orgs.move_to_end(org_id)
        passed = min(offset // self.spacing, len(anchors.keys))
        if passed == 0:
            return None
        name, repo_id = anchors.keys[passed - 1]
        return Seek(anchors.version, name, repo_id, offset - passed * self.spacing)

    def discard(self, org_id: str, version: int) -> None:
        """Forget the org's anchors if they are those of ``version``: the list has changed since."""
        entry = self._orgs.get(org_id)
        if entry is not None and entry.anchors is not None and entry.anchors.version == version:
            entry.anchors = None

    async def _rebuild(self, conn: AsyncConnection, org_id: str) -> Anchors | None:
        started = self.clock()
        anchors = await read_anchors(conn, org_id, self.spacing)
        finished = self.clock()
        entry = self._orgs.get(org_id)
        if entry is None:
            entry = self._orgs[org_id] = _Org(None, 0.0)
        entry.rebuild_after = finished + self.quiet_factor * (finished - started)
        log.info(
            "page anchors rebuilt",
            org_id=org_id,
            anchors=None if anchors is None else len(anchors.keys),
            ms=round((finished - started) * 1000, 1),
        )
        if anchors is not None and (entry.anchors is None or entry.anchors.version <= anchors.version):
            entry.anchors = anchors
        self._orgs.move_to_end(org_id)
        while len(self._orgs) > self.max_orgs:
            self._orgs.popitem(last=False)
        return anchors


async def read_anchors(conn: AsyncConnection, org_id: str, spacing: int) -> Anchors | None:
    """The org's anchors and the version they belong to, read in one statement (one snapshot); None if
    the org does not exist."""
    position = func.row_number().over(order_by=(repos.c.name, repos.c.id)) - 1
    ordered = (
        select(repos.c.name, repos.c.id, position.label("position"))
        .where(repos.c.org_id == org_id, repos.c.lifecycle == LIFECYCLE_ACTIVE)
        .subquery()
    )
    every = select(ordered).where(ordered.c.position >= spacing, ordered.c.position % spacing == 0).subquery()
    rows = (
        await conn.execute(
            select(orgs.c.repo_list_version, every.c.name, every.c.id)
            .select_from(orgs.outerjoin(every, true()))
            .where(orgs.c.id == org_id)
            .order_by(every.c.position)
        )
    ).all()
    if not rows:
        return None
    return Anchors(rows[0].repo_list_version, [(r.name, r.id) for r in rows if r.name is not None])
