"""A thin driver over the V1 domain functions, one transaction per call, as a router would make them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server.v1 import documents, history, listing, sessions
from arraylake.server.v1.keys import Collection
from arraylake.server.v1.views import read_view
from arraylake.types.v1 import BulkCreateDocBody, NewCommit, NewSession, UpdateBranchBody

META, CHUNKS = Collection.metadata, Collection.chunks
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ref(length: int, sid: str = "s") -> dict[str, Any]:
    """A materialized V1 chunk reference of ``length`` bytes."""
    return {
        "uri": None,
        "offset": 0,
        "length": length,
        "hash": {"method": "hashlib.sha256", "token": "ab"},
        "v": 1,
        "sid": sid,
    }


class V1:
    def __init__(self, engine: AsyncEngine, repo_id: str):
        self.engine, self.repo_id = engine, repo_id

    async def session(self, branch: str | None = "main", base: str | None = None, **kw: Any) -> str:
        new = NewSession(branch=branch, base_commit=base, author_email="a@example.com", **kw)
        async with self.engine.begin() as conn:
            return (await sessions.create_session(conn, self.repo_id, new)).id

    async def set(self, sid: str, coll: Collection, docs: dict[str, dict[str, Any]]) -> None:
        body = [BulkCreateDocBody(session_id=sid, path=p, content=c) for p, c in docs.items()]
        async with self.engine.begin() as conn:
            await documents.bulk_set(conn, self.repo_id, coll, sid, body)

    async def get(self, sid: str, base: str | None, coll: Collection, paths: list[str]) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            view = await read_view(conn, self.repo_id, sid, base)
            return {
                d.path: d.content for d in await documents.bulk_get(conn, self.repo_id, coll, view, paths)
            }

    async def delete(self, sid: str, base: str | None, coll: Collection, paths: list[str]) -> int:
        async with self.engine.begin() as conn:
            return await documents.bulk_delete(conn, self.repo_id, coll, sid, base, paths)

    async def commit(self, sid: str, parent: str | None, message: str = "m") -> str:
        new = NewCommit(
            session_id=sid,
            session_start_time=T0,
            parent_commit=parent,
            commit_time=T0,
            author_email="a@example.com",
            message=message,
        )
        async with self.engine.begin() as conn:
            return await history.create_commit(conn, self.repo_id, new)

    async def move(
        self,
        commit: str,
        base: str | None,
        branch: str = "main",
        *,
        new_branch: bool = False,
        sid: str | None = None,
    ) -> None:
        change = UpdateBranchBody(
            branch=branch, new_commit=commit, new_branch=new_branch, base_commit=base, session_id=sid
        )
        async with self.engine.begin() as conn:
            await history.update_branch(conn, self.repo_id, change)

    async def land(self, sid: str, parent: str | None, branch: str = "main") -> str:
        commit = await self.commit(sid, parent)
        await self.move(commit, parent, branch, new_branch=parent is None, sid=sid)
        return commit

    async def rebase(self, sid: str, branch: str = "main", base: str | None = None) -> str:
        async with self.engine.connect() as conn:
            return await history.rebase(conn, self.repo_id, sid, branch, base)

    async def ls(self, sid: str, base: str | None, coll: Collection, prefix: str, **kw: Any) -> list[str]:
        async with self.engine.connect() as conn:
            view = await read_view(conn, self.repo_id, sid, base)
            return await listing.list_paths(conn, self.repo_id, coll, view, prefix, **kw)

    async def tip(self, branch: str = "main") -> str | None:
        async with self.engine.connect() as conn:
            return await history.branch_tip(conn, self.repo_id, branch)
