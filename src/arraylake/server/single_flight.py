"""Collapsing concurrent loads of one key into one (a cache entry expiring under load is read once)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable


class SingleFlight[K: Hashable, V]:
    """Concurrent :meth:`run` calls for the same key share one run of the loader and its outcome."""

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        running = self._running.get(key)
        if running is not None:
            return await asyncio.shield(running)
        running = asyncio.get_running_loop().create_future()
        self._running[key] = running
        try:
            value = await load()
        except BaseException as exc:
            running.set_exception(exc)
            running.exception()  # marks it retrieved: no "never retrieved" warning when nobody waited
            raise
        finally:
            del self._running[key]
        running.set_result(value)
        return value
