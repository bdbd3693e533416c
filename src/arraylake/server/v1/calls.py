"""What V1 routes declare: the caller's right on a V1 repo, where a request reads or writes; answers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel

from arraylake.server.context import AppContext
from arraylake.server.deps import OnRepo, RepoReader, RepoWriter
from arraylake.server.errors import Conflict
from arraylake.server.repos.records import cached_repo_record
from arraylake.server.wire import JSON
from arraylake.types import RepoKind, RepoOperationMode


@dataclass(frozen=True, slots=True)
class V1Call:
    """A call authorized on a V1 repo; ``repo_id`` keys its sessions, commits, refs and documents."""

    on: OnRepo
    repo_id: str

    @property
    def ctx(self) -> AppContext:
        return self.on.ctx


async def _v1_repo(on: OnRepo, *, write: bool) -> V1Call:
    """The call, if the repo is a V1 repo that is online (or, for reads, in maintenance); 409 otherwise."""
    row = (await cached_repo_record(on.ctx.catalog, on.ctx.reader, on.scope, on.repo)).repo
    full = f"{on.org}/{on.repo}"
    if row.kind != RepoKind.V1:
        raise Conflict(
            f"repo {full} is an {row.kind} repo: this route serves legacy V1 repos only "
            "(open Icechunk repos with /repos/{org}/{repo}/open and Icechunk)"
        )
    mode = RepoOperationMode(row.status_mode)
    why = f": {row.status_message}" if row.status_message else ""
    if mode == RepoOperationMode.OFFLINE:
        raise Conflict(f"repo {full} is offline{why}")
    if write and mode == RepoOperationMode.MAINTENANCE:
        raise Conflict(f"repo {full} is in maintenance and read-only{why}")
    return V1Call(on, row.id)


async def _reader(on: RepoReader) -> V1Call:
    return await _v1_repo(on, write=False)


async def _writer(on: RepoWriter) -> V1Call:
    return await _v1_repo(on, write=True)


V1Reader = Annotated[V1Call, Depends(_reader)]
"""Given to whoever may read the V1 repo ``{org}/{repo}``."""

V1Writer = Annotated[V1Call, Depends(_writer)]
"""Given to whoever may write the V1 repo ``{org}/{repo}``, while it is online."""


# Clients send None as an empty value (``base_commit=``): every optional parameter reads empty as null.

SESSION_DOC = "The session: a write session's id, or read-<commit id> (read-None on an empty repo) for reads"
BASE_DOC = "The commit the session sits on (empty: none)"


@dataclass(frozen=True, slots=True)
class At:
    """Where a request reads or writes: a session (``None``: none, just ``base_commit``) over a commit."""

    session_id: str | None
    base_commit: str | None


async def _read_at(
    session_id: str | None = Query(default=None, max_length=64, description=SESSION_DOC),
    base_commit: str | None = Query(default=None, max_length=64, description=BASE_DOC),
) -> At:
    return At(session_id or None, base_commit or None)


@dataclass(frozen=True, slots=True)
class InSession:
    """Where a request writes: a write session over a commit (``None``: the empty repo)."""

    session_id: str
    base_commit: str | None


async def _write_at(
    session_id: str = Query(min_length=1, max_length=64, description="The write session"),
    base_commit: str | None = Query(default=None, max_length=64, description=BASE_DOC),
) -> InSession:
    return InSession(session_id, base_commit or None)


ReadAt = Annotated[At, Depends(_read_at)]
WriteAt = Annotated[InSession, Depends(_write_at)]


def null(value: str | None) -> str | None:
    """An optional query value, empty read as null."""
    return value or None


def wire_list(items: Sequence[BaseModel], status_code: int = 200) -> Response:
    """A list of wire models as JSON, without FastAPI validating them again (listings can be long)."""
    body = "[" + ",".join(item.model_dump_json(by_alias=True) for item in items) + "]"
    return Response(body, status_code=status_code, media_type=JSON)


def json_list(items: Sequence[str]) -> Response:
    return Response(json.dumps(items, ensure_ascii=False), media_type=JSON)
