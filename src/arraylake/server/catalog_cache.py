"""A short-lived, in-process cache of catalog reads, so that the hot paths (get a repo, open it, vend its
credentials) skip the database.

Every commit this process makes clears it (an SQLAlchemy ``commit`` event on the engine), so a process
always reads its own writes. Another process's writes (a second worker or machine on the same catalog) show
after at most ``ttl`` seconds, the same bound as the token cache's for revocations. A ``ttl`` of 0 turns the
cache off.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar, cast

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server import metrics
from arraylake.server.identity.principals import OrgScope
from arraylake.server.repos.service import RepoRecord, repo_record
from arraylake.server.single_flight import SingleFlight

MAX_ENTRIES = 10_000
V = TypeVar("V")


class CatalogCache:
    """Recent catalog reads by key, each kept for ``ttl`` seconds at most."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        # A load that started before a commit must not store what it read: it may predate the write.
        self._generation = 0
        self._flights: SingleFlight[Hashable, Any] = SingleFlight()

    def watch(self, engine: AsyncEngine) -> None:
        """Forget everything whenever ``engine`` (or any engine sharing its pool) commits."""
        event.listen(engine.sync_engine, "commit", self._on_commit)

    def _on_commit(self, _conn: Any) -> None:
        self.invalidate()

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

    async def repo_record(self, reader: AsyncEngine, org: OrgScope, name: str) -> RepoRecord:
        """The active repo ``name`` of ``org`` (404 if absent)."""

        async def load() -> RepoRecord:
            async with reader.connect() as conn:
                return await repo_record(conn, org, name)

        return await self.get(("repo", org.org_id, name), load)
