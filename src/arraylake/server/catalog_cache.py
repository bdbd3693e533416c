"""Short-lived, in-process caches of catalog reads, so that the hot paths (authenticate, get a repo, open
it, vend its credentials) skip the database, and the one hook that keeps every such cache current.

Every commit this process makes clears every cache handed to :func:`invalidate_on_commit`, so a process
always reads its own writes, and no request handler has to remember to clear anything. Another process's
writes (a second worker or machine on the same catalog) show after at most each cache's ``ttl`` seconds.
A ``ttl`` of 0 turns a :class:`CatalogCache` off.

This module knows nothing of repos, tokens or orgs: the domain modules build their keys and loads on it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arraylake.server import metrics
from arraylake.server.single_flight import SingleFlight

MAX_ENTRIES = 10_000
V = TypeVar("V")
_COMMITTED = "arraylake.committed"
_NEUTRAL = "arraylake.cache_neutral"


class Invalidates(Protocol):
    def invalidate(self) -> None:
        """Forget every cached answer; an answer being loaded now must not be kept either."""


def invalidate_on_commit(engine: AsyncEngine, caches: list[Invalidates]) -> None:
    """Clear ``caches`` whenever ``engine`` (or any engine sharing its pool) commits.

    SQLAlchemy's ``commit`` event fires before the database has the commit, and a load that runs in between
    still reads the old rows; so the caches are cleared again once the committing connection is handed back
    to the pool, by when the commit is done.
    """

    def committing(conn: Any) -> None:
        if conn.info.pop(_NEUTRAL, False):
            return
        conn.info[_COMMITTED] = True
        for cache in caches:
            cache.invalidate()

    def checked_in(_dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_COMMITTED, False):
            for cache in caches:
                cache.invalidate()

    event.listen(engine.sync_engine, "commit", committing)
    event.listen(engine.sync_engine.pool, "checkin", checked_in)


def cache_neutral(conn: AsyncConnection) -> None:
    """Mark the transaction of ``conn`` as one that changes nothing a cache holds (the audit entry of an event
    that changed nothing else, a lease renewal): its commit leaves the caches, and so the hot paths, alone."""
    conn.info[_NEUTRAL] = True


class CatalogCache:
    """Recent catalog reads by key, each kept for ``ttl`` seconds at most."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        # A load that started before a commit must not store what it read: it may predate the write.
        self._generation = 0
        self._flights: SingleFlight[Hashable, Any] = SingleFlight()

    def invalidate(self) -> None:
        self._generation += 1
        self._entries.clear()

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        """The value under ``key`` if fresh; else ``load()`` it (once for concurrent callers) and keep it."""
        now = time.monotonic()
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            metrics.CATALOG_CACHE_HIT.inc()
            return cast(V, cached[1])
        metrics.CATALOG_CACHE_MISS.inc()
        if self.ttl <= 0:
            return await load()
        generation = self._generation
        value = await self._flights.run(key, load)
        if generation == self._generation:
            self._entries[key] = (now + self.ttl, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return cast(V, value)
