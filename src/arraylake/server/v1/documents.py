"""Documents of a session: bulk set, get and delete, and which paths a session or commit modified."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import v1_commits, v1_documents, v1_sessions
from arraylake.server.errors import InvalidInput
from arraylake.server.v1.keys import MAX_BATCH, Collection, check_path, doc_id
from arraylake.server.v1.sessions import session_row, writable_session
from arraylake.server.v1.sql import insert_on_conflict
from arraylake.server.v1.views import View, check_commit_id, commit_chain
from arraylake.types.v1 import (
    READ_SESSION_PREFIX,
    BulkCreateDocBody,
    CollectionName,
    DocResponse,
    DocSessionsResponse,
    ReferenceData,
    SessionPathsResponse,
)

d = v1_documents.c


def _check_batch(items: Sequence[Any]) -> None:
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH} documents per request")


def _chunk_bytes(coll: Collection, doc: BulkCreateDocBody) -> int | None:
    if coll is not Collection.chunks:
        return None
    try:
        return ReferenceData.model_validate(doc.content).length
    except ValidationError as e:
        problems = "; ".join(error["msg"] for error in e.errors(include_url=False))
        raise InvalidInput(f"{doc.path[:200]!r} is not a chunk reference: {problems}") from None


async def upsert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = insert_on_conflict(conn, v1_documents)
    stmt = stmt.on_conflict_do_update(
        index_elements=[d.repo_id, d.collection, d.path, d.session_seq],
        set_={
            "deleted": stmt.excluded.deleted,
            "content": stmt.excluded.content,
            "chunk_bytes": stmt.excluded.chunk_bytes,
        },
    )
    await conn.execute(stmt, rows)


async def bulk_set(
    conn: AsyncConnection, repo_id: str, coll: Collection, session_id: str, docs: Sequence[BulkCreateDocBody]
) -> None:
    """Write ``docs`` in session ``session_id``; the last of two writes of one path wins."""
    _check_batch(docs)
    latest: dict[str, dict[str, Any]] = {}
    for doc in docs:
        if doc.session_id != session_id:
            raise InvalidInput(
                f"document {doc.path[:200]!r} names session {doc.session_id[:64]!r}, not the query's"
            )
        check_path(coll, doc.path)
        latest[doc.path] = {
            "path": doc.path,
            "deleted": False,
            "content": doc.content,
            "chunk_bytes": _chunk_bytes(coll, doc),
        }
    session_seq = await writable_session(conn, repo_id, session_id)
    key = {"repo_id": repo_id, "collection": coll, "session_seq": session_seq}
    await upsert(conn, [{**key, **row} for row in latest.values()])


async def _winners(
    conn: AsyncConnection, repo_id: str, coll: Collection, view: View, paths: Iterable[str]
) -> dict[str, int]:
    """Path -> the session whose version ``view`` sees, for the paths that exist in it (one index range
    per path, reading no content)."""
    versions: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    query = select(d.path, d.session_seq, d.deleted).where(
        d.repo_id == repo_id, d.collection == coll, d.path.in_(list(paths))
    )
    for row in await conn.execute(query):
        versions[row.path].append((row.session_seq, row.deleted))
    found = {path: view.winner(candidates) for path, candidates in versions.items()}
    return {path: seq for path, seq in found.items() if seq is not None}


async def contents(
    conn: AsyncConnection, repo_id: str, coll: Collection, winners: dict[str, int]
) -> dict[str, dict[str, Any]]:
    """The content of the chosen version of each path."""
    if not winners:
        return {}
    query = select(d.path, d.content).where(
        d.repo_id == repo_id,
        d.collection == coll,
        tuple_(d.path, d.session_seq).in_(list(winners.items())),
    )
    return {row.path: row.content for row in await conn.execute(query)}


async def bulk_get(
    conn: AsyncConnection, repo_id: str, coll: Collection, view: View, paths: Sequence[str]
) -> list[DocResponse]:
    """The documents at ``paths`` as ``view`` sees them; missing or deleted paths are left out."""
    _check_batch(paths)
    wanted = list(dict.fromkeys(check_path(coll, path) for path in paths))
    winners = await _winners(conn, repo_id, coll, view, wanted)
    found = await contents(conn, repo_id, coll, winners)
    answer = []
    for path in wanted:
        # Reads are not one snapshot on PostgreSQL: a version abandoned in between is gone, not an error.
        if path in winners and path in found:
            session_id = view.session_id(winners[path])
            answer.append(
                DocResponse(
                    id=doc_id(session_id, coll, path), session_id=session_id, path=path, content=found[path]
                )
            )
    return answer


async def delete_paths(
    conn: AsyncConnection, repo_id: str, coll: Collection, session_seq: int, view: View, paths: Iterable[str]
) -> int:
    """Record deletions, in the session, of those ``paths`` that ``view`` sees; how many."""
    visible = await _winners(conn, repo_id, coll, view, paths)
    key = {"repo_id": repo_id, "collection": coll, "session_seq": session_seq}
    await upsert(
        conn, [{**key, "path": p, "deleted": True, "content": None, "chunk_bytes": None} for p in visible]
    )
    return len(visible)


async def bulk_delete(
    conn: AsyncConnection,
    repo_id: str,
    coll: Collection,
    session_id: str,
    base_commit: str | None,
    paths: Sequence[str],
) -> int:
    """Delete ``paths`` in the session (over ``base_commit``); paths that do not exist are ignored."""
    _check_batch(paths)
    wanted = list(dict.fromkeys(check_path(coll, path) for path in paths))
    session_seq = await writable_session(conn, repo_id, session_id)
    view = View(await commit_chain(conn, repo_id, base_commit), session_seq, session_id)
    return await delete_paths(conn, repo_id, coll, session_seq, view, wanted)


def _modified_collection(name: str) -> Collection | None:
    """The stored collection ``name`` lists modifications of; ``None`` for ``nodes`` (derived, never
    written: every node is a metadata document)."""
    if name == CollectionName.nodes:
        return None
    if name == CollectionName.metadata:
        return Collection.metadata
    if name == CollectionName.chunks:
        return Collection.chunks
    raise InvalidInput(f"unknown document collection {name!r}: use 'metadata', 'chunks' or 'nodes'")


async def _session_paths(
    conn: AsyncConnection, coll: Collection, session_seq: int, session_id: str, limit: int
) -> list[SessionPathsResponse]:
    if limit < 0:
        raise InvalidInput("limit must be 0 (all) or more")
    query = (
        select(d.path, d.deleted).where(d.session_seq == session_seq, d.collection == coll).order_by(d.path)
    )
    if limit:
        query = query.limit(limit)
    return [
        SessionPathsResponse(_id=doc_id(session_id, coll, row.path), path=row.path, deleted=row.deleted)
        for row in await conn.execute(query)
    ]


async def modified_paths(
    conn: AsyncConnection, repo_id: str, collection: str, session_id: str, limit: int = 0
) -> list[SessionPathsResponse]:
    """The paths of ``collection`` the session wrote or deleted, in path order (``limit`` 0: all)."""
    coll = _modified_collection(collection)
    if coll is None or session_id.startswith(READ_SESSION_PREFIX):
        return []
    session = await session_row(conn, repo_id, session_id)
    return await _session_paths(conn, coll, session.seq, session.id, limit)


async def modified_paths_commit(
    conn: AsyncConnection, repo_id: str, collection: str, commit_id: str, limit: int = 0
) -> list[SessionPathsResponse]:
    """The paths of ``collection`` the commit's session wrote or deleted."""
    coll = _modified_collection(collection)
    check_commit_id(commit_id)
    row = (
        await conn.execute(
            select(v1_sessions.c.seq, v1_sessions.c.id)
            .join(v1_commits, v1_commits.c.session_seq == v1_sessions.c.seq)
            .where(v1_commits.c.repo_id == repo_id, v1_commits.c.id == commit_id)
        )
    ).first()
    if row is None:
        raise InvalidInput(f"commit {commit_id} does not exist in this repo")
    if coll is None:
        return []
    return await _session_paths(conn, coll, row.seq, row.id, limit)


async def doc_sessions(
    conn: AsyncConnection, repo_id: str, coll: Collection, path: str
) -> list[DocSessionsResponse]:
    """Every session that wrote or deleted ``path``, oldest first."""
    check_path(coll, path)
    query = (
        select(v1_sessions.c.id, d.deleted, d.chunk_bytes)
        .join(v1_sessions, v1_sessions.c.seq == d.session_seq)
        .where(d.repo_id == repo_id, d.collection == coll, d.path == path)
        .order_by(d.session_seq)
    )
    return [
        DocSessionsResponse(
            _id=doc_id(row.id, coll, path),
            session_id=row.id,
            deleted=row.deleted,
            chunksize=row.chunk_bytes or 0,
        )
        for row in await conn.execute(query)
    ]


async def purge_documents(conn: AsyncConnection, repo_id: str, batch: int) -> int:
    """Delete up to ``batch`` documents of a repo being purged, whatever their session; how many."""
    some = select(d.repo_id, d.collection, d.path, d.session_seq).where(d.repo_id == repo_id).limit(batch)
    gone = await conn.execute(
        delete(v1_documents).where(tuple_(d.repo_id, d.collection, d.path, d.session_seq).in_(some))
    )
    return int(gone.rowcount)
