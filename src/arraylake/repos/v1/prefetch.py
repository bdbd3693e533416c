"""Chunk references read ahead: a read of one chunk of an array fetches the references of the chunks after
it (in C order, as zarr reads a selection) in one bulk request, so that reading N chunks costs a handful of
metastore round trips rather than N.

Only for read sessions: a commit's view never changes, so what was fetched stays true; a write session may be
written by joined writers elsewhere at any moment. The window adapts per array: it doubles while the
references it fetched get read, and shrinks when they do not (strided or sparse reads), so that a read of
scattered chunks asks for little it does not use.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arraylake.repos.v1 import metadata as md
from arraylake.types.v1 import CollectionName, ReferenceData

if TYPE_CHECKING:
    from arraylake.repos.v1.repo import AsyncRepo

FIRST_WINDOW = 32
MIN_WINDOW = 4
MAX_WINDOW = 2048
REQUEST_SIZE = 512
"""References per bulk request: larger windows go as several requests at the metastore's concurrency."""
MAX_HELD = 200_000
"""References kept at most; beyond, the cache starts over (a long scan keeps only what is ahead of it)."""

_FAILED = object()


@dataclass
class _Array:
    grid: tuple[int, ...]  # chunks along each dimension
    window: int = FIRST_WINDOW
    fetched_ahead: int = 0  # references the last window fetched beyond the one asked for
    used: int = 0  # of those, how many were read since


def chunk_coords(key: str) -> tuple[str, tuple[int, ...]] | None:
    """``(array node, chunk coordinates)`` of a zarr 3 chunk key (``a/b/c/0/1`` -> ``("a/b", (0, 1))``)."""
    parts = key.split("/")
    end = len(parts)
    while end > 0 and parts[end - 1].isdigit():
        end -= 1
    if end == 0 or parts[end - 1] != "c":
        return None
    return "/".join(parts[: end - 1]), tuple(int(p) for p in parts[end:])


def chunk_key(node: str, coords: tuple[int, ...]) -> str:
    return "/".join([node, "c", *map(str, coords)]) if node else "/".join(["c", *map(str, coords)])


class ReferencePrefetcher:
    """The chunk references of one read session's arrays, fetched a window at a time."""

    def __init__(self, repo: AsyncRepo):
        self.repo = repo
        self._held: dict[str, ReferenceData | None] = {}  # None: the chunk does not exist
        self._pending: dict[str, asyncio.Future[object]] = {}
        self._arrays: dict[str, _Array | None] = {}

    async def reference(self, key: str) -> ReferenceData | None:
        """The reference of the chunk at zarr 3 ``key`` (``None`` if it does not exist)."""
        path = md.chunk_doc(key)
        parsed = chunk_coords(key)
        array = None if parsed is None else await self._array(parsed[0])
        if path in self._held:
            if array is not None:
                array.used += 1
            return self._held[path]
        pending = self._pending.get(path)
        if pending is not None and pending.get_loop() is asyncio.get_running_loop():
            if array is not None:
                array.used += 1
            if await pending is not _FAILED and path in self._held:
                return self._held[path]
        elif array is not None and parsed is not None:
            await self._fetch_window(array, parsed[0], parsed[1])
            if path in self._held:
                return self._held[path]
        return (await self.repo._get_chunk_refs([path])).get(path)

    async def _array(self, node: str) -> _Array | None:
        if node not in self._arrays:
            _, array_doc = md.meta_docs(node)
            docs = await self.repo._get_docs([array_doc])
            array: _Array | None = None
            if array_doc in docs:
                meta = md.array_from_draft(docs[array_doc])
                shape, chunks = meta["shape"], meta["chunk_grid"]["configuration"]["chunk_shape"]
                grid = (math.ceil(s / c) if c else 0 for s, c in zip(shape, chunks, strict=True))
                array = _Array(tuple(grid))
            self._arrays[node] = array
        return self._arrays[node]

    def _window_paths(self, array: _Array, node: str, coords: tuple[int, ...]) -> list[str]:
        """The chunk documents from ``coords`` on, in C order, that are neither held nor being fetched."""
        if array.fetched_ahead:
            ratio = array.used / array.fetched_ahead
            array.window = (
                min(array.window * 2, MAX_WINDOW) if ratio >= 0.5 else max(array.window // 2, MIN_WINDOW)
            )
        if len(coords) != len(array.grid) or any(
            not 0 <= c < n for c, n in zip(coords, array.grid, strict=True)
        ):
            return [md.chunk_doc(chunk_key(node, coords))]
        start = 0
        for c, n in zip(coords, array.grid, strict=True):
            start = start * n + c
        stop = min(start + array.window, math.prod(array.grid))
        paths = []
        for index in range(start, stop):
            position: list[int] = []
            for n in reversed(array.grid):
                index, c = divmod(index, n)
                position.append(c)
            path = md.chunk_doc(chunk_key(node, tuple(reversed(position))))
            if path not in self._held and path not in self._pending:
                paths.append(path)
        array.fetched_ahead, array.used = max(len(paths) - 1, 0), 0
        return paths

    async def _fetch_window(self, array: _Array, node: str, coords: tuple[int, ...]) -> None:
        paths = self._window_paths(array, node, coords)
        if len(self._held) + len(paths) > MAX_HELD:
            self._held.clear()
        loop = asyncio.get_running_loop()
        futures = {path: loop.create_future() for path in paths}
        self._pending.update(futures)
        outcome: object = None
        try:
            session = self.repo.session
            found = await self.repo.db.get_docs(
                CollectionName.chunks, paths, session.id, session.base_commit, batch=REQUEST_SIZE
            )
            for path in paths:
                doc = found.get(path)
                self._held[path] = None if doc is None else ReferenceData.model_validate(doc)
        except BaseException:
            outcome = _FAILED  # whoever waits on these asks for its own reference instead
            raise
        finally:
            for path, future in futures.items():
                if self._pending.get(path) is future:
                    del self._pending[path]
                future.set_result(outcome)
