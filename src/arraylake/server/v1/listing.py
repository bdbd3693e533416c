"""Reading and changing whole key ranges: listings (with JMESPath filters), prefix deletes, sizes, the node
tree and renames.

A range is read in path order, in batches, by keyset pagination over the documents' primary key; each
path's versions arrive together and are resolved as they pass. A non-recursive listing reads one entry per
child and then jumps past that child's subtree, so listing a group costs O(children), not O(chunks).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import v1_documents
from arraylake.server.errors import InvalidInput
from arraylake.server.v1.documents import contents, upsert
from arraylake.server.v1.keys import Collection, check_prefix, prefix_end
from arraylake.server.v1.sessions import writable_session
from arraylake.server.v1.views import View, commit_chain
from arraylake.types.v1 import PathSizeResponse

d = v1_documents.c
BATCH = 1000
MAX_FILTER_LENGTH = 4096
_ABOVE_ANY_SESSION = 2**31 - 1  # session seqs are 32-bit integers
_AFTER_SLASH = chr(ord("/") + 1)  # the least character above '/': "a0" is the first key past "a/..."


async def visible(
    conn: AsyncConnection,
    repo_id: str,
    coll: Collection,
    view: View,
    prefix: str,
    *,
    start_at: str | None = None,
    start_after: str | None = None,
    first_batch: int = BATCH,
) -> AsyncGenerator[tuple[str, int, int | None]]:
    """``(path, session seq, chunk bytes)`` of each path under ``prefix`` that ``view`` sees, in order
    (from ``start_at`` on, or above ``start_after``)."""
    end = prefix_end(prefix)
    low = max(prefix, start_at or "")
    after = None if start_after is None else (start_after, _ABOVE_ANY_SESSION)
    batch = first_batch
    path: str | None = None
    versions: list[tuple[int, bool, int | None]] = []
    while True:
        query = select(d.path, d.session_seq, d.deleted, d.chunk_bytes).where(
            d.repo_id == repo_id, d.collection == coll, d.path >= low
        )
        if end is not None:
            query = query.where(d.path < end)
        if after is not None:
            query = query.where(tuple_(d.path, d.session_seq) > after)
        rows = (await conn.execute(query.order_by(d.path, d.session_seq).limit(batch))).all()
        for row in rows:
            if row.path != path:
                if path is not None and (found := _resolve(view, path, versions)) is not None:
                    yield found
                path, versions = row.path, []
            versions.append((row.session_seq, row.deleted, row.chunk_bytes))
        if len(rows) < batch:
            break
        after = (rows[-1].path, rows[-1].session_seq)
        batch = min(batch * 4, BATCH)
    if path is not None and (found := _resolve(view, path, versions)) is not None:
        yield found


def _resolve(
    view: View, path: str, versions: list[tuple[int, bool, int | None]]
) -> tuple[str, int, int | None] | None:
    seq = view.winner((session_seq, deleted) for session_seq, deleted, _ in versions)
    if seq is None:
        return None
    return path, seq, next(size for session_seq, _, size in versions if session_seq == seq)


def compile_filter(expression: str | None) -> Callable[[Any], bool] | None:
    """A JMESPath expression as a predicate on document content (422 if it does not parse)."""
    if not expression:
        return None
    if len(expression) > MAX_FILTER_LENGTH:
        raise InvalidInput(f"filter longer than {MAX_FILTER_LENGTH} characters")
    try:
        compiled = jmespath.compile(expression)
    except JMESPathError as e:
        raise InvalidInput(f"filter is not a JMESPath expression: {e}") from None

    def matches(content: Any) -> bool:
        try:
            return bool(compiled.search(content))
        except JMESPathError:  # a function given the wrong type: this document does not match
            return False

    return matches


async def matching(
    conn: AsyncConnection,
    repo_id: str,
    coll: Collection,
    found: Iterable[tuple[str, int]],
    matches: Callable[[Any], bool] | None,
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """``(path, content)`` of the found versions whose content ``matches`` (all without a predicate)."""
    pending: dict[str, int] = {}

    async def flush() -> list[tuple[str, dict[str, Any]]]:
        docs = await contents(conn, repo_id, coll, pending)
        pending.clear()
        return [(p, doc) for p, doc in sorted(docs.items()) if matches is None or matches(doc)]

    for path, seq in found:
        pending[path] = seq
        if len(pending) >= BATCH:
            for item in await flush():
                yield item
    for item in await flush():
        yield item


async def list_paths(
    conn: AsyncConnection,
    repo_id: str,
    coll: Collection,
    view: View,
    prefix: str,
    *,
    all_subdirs: bool = False,
    filter: str | None = None,
) -> list[str]:
    """Paths under ``prefix`` that ``view`` sees.

    With ``all_subdirs``, every document whose path starts with ``prefix``. Without, ``prefix`` names a
    directory (a missing trailing ``/`` is implied) and the answer is its documents and its
    sub-directories, each as a full path without trailing ``/``. A ``filter`` (JMESPath over each
    document's content) keeps only the documents it is true for, and no directories.
    """
    check_prefix(prefix)
    matches = compile_filter(filter)
    if all_subdirs:
        found = [(path, seq) async for path, seq, _ in visible(conn, repo_id, coll, view, prefix)]
    else:
        found = await _children(conn, repo_id, coll, view, prefix)
    if matches is None:
        return [path for path, _ in found]
    docs = [(path, seq) for path, seq in found if seq != DIRECTORY]
    return [path async for path, _ in matching(conn, repo_id, coll, docs, matches)]


DIRECTORY = -1
"""The session given for a sub-directory in a non-recursive listing."""


async def _children(
    conn: AsyncConnection, repo_id: str, coll: Collection, view: View, prefix: str
) -> list[tuple[str, int]]:
    """Documents (with their session) and sub-directories (``DIRECTORY``) right under a directory."""
    directory = prefix if prefix == "" or prefix.endswith("/") else prefix + "/"
    children: list[tuple[str, int]] = []
    start_at: str | None = None
    start_after: str | None = None
    while True:
        entries = visible(
            conn, repo_id, coll, view, directory, start_at=start_at, start_after=start_after, first_batch=16
        )
        subtree: str | None = None
        # Documents right under the directory come in one ordered scan; only a sub-directory ends it, to
        # jump past its subtree (a directory of N chunk documents is a few queries, not N).
        async for path, seq, _ in entries:
            name, slash, _ = path[len(directory) :].partition("/")
            if slash:
                children.append((directory + name, DIRECTORY))
                subtree = directory + name
                break
            children.append((path, seq))
        await entries.aclose()
        if subtree is None:
            return children
        start_at, start_after = subtree + _AFTER_SLASH, None


async def delete_prefix(
    conn: AsyncConnection,
    repo_id: str,
    coll: Collection,
    session_id: str,
    base_commit: str | None,
    prefix: str,
) -> int:
    """Delete, in the session, every document under ``prefix`` it sees; how many."""
    check_prefix(prefix)
    session_seq = await writable_session(conn, repo_id, session_id)
    view = View(await commit_chain(conn, repo_id, base_commit), session_seq, session_id)
    paths = [path async for path, _, _ in visible(conn, repo_id, coll, view, prefix)]
    key = {"repo_id": repo_id, "collection": coll, "session_seq": session_seq}
    tombstone = {**key, "deleted": True, "content": None, "chunk_bytes": None}
    for start in range(0, len(paths), BATCH):
        await upsert(conn, [{**tombstone, "path": path} for path in paths[start : start + BATCH]])
    return len(paths)


async def prefix_size(conn: AsyncConnection, repo_id: str, view: View, prefix: str) -> PathSizeResponse:
    """How many chunks ``view`` sees under ``prefix`` and the sum of their lengths."""
    check_prefix(prefix)
    count = total = 0
    async for _, _, size in visible(conn, repo_id, Collection.chunks, view, prefix):
        count += 1
        total += size or 0
    return PathSizeResponse(path=prefix, number_of_chunks=count, total_chunk_bytes=total)
