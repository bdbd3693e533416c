"""Wire models of legacy V1 repos: sessions, commits, branches, tags, documents and chunk references."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, computed_field, model_validator

from arraylake.types.common import RequestBody, UtcDatetime, WireModel

OBJECT_ID = re.compile(r"[0-9a-f]{24}")
CommitId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
"""A commit id: a 12-byte BSON-ObjectId-like value as 24 lower-case hex digits."""

RefName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
"""A branch or tag name: any non-empty text."""

SessionId = Annotated[str, StringConstraints(min_length=1, max_length=64)]

DEFAULT_SESSION_LIFETIME = timedelta(days=1)
MAX_SESSION_LIFETIME = timedelta(days=7)
READ_SESSION_PREFIX = "read-"
"""Read sessions are never sent to the service: reads name them ``read-<commit hex>`` (``read-None``)."""


def new_object_id() -> str:
    """24 hex digits like a BSON ObjectId: 4 bytes of time (ids sort by creation second) + 8 random bytes."""
    return (int(time.time()).to_bytes(4, "big") + os.urandom(8)).hex()


def is_object_id(value: str) -> bool:
    return OBJECT_ID.fullmatch(value) is not None


class CollectionName(StrEnum):
    metadata = "metadata"
    chunks = "chunks"
    nodes = "nodes"
    sessions = "sessions"


class SessionType(StrEnum):
    read = "read"
    write = "write"


def _check_lifetime(expires_in: timedelta) -> timedelta:
    if expires_in <= timedelta(0):
        raise ValueError("expires_in must be a positive duration")
    if expires_in > MAX_SESSION_LIFETIME:
        raise ValueError(f"expires_in may be at most {MAX_SESSION_LIFETIME.days} days")
    return expires_in


class NewSession(RequestBody):
    """Body of ``POST /sessions``; ``expires_in`` is an ISO-8601 duration (``P1D``)."""

    branch: RefName | None = None
    base_commit: CommitId | None = None
    author_name: str | None = Field(default=None, max_length=256)
    author_email: str = Field(max_length=320)
    message: str | None = Field(default=None, max_length=65536)
    session_type: SessionType = SessionType.write
    expires_in: timedelta = DEFAULT_SESSION_LIFETIME

    @model_validator(mode="after")
    def _where(self) -> NewSession:
        if self.branch is None and self.base_commit is None:
            raise ValueError("a session needs a branch or a base_commit")
        _check_lifetime(self.expires_in)
        return self


class SessionInfo(WireModel):
    id: str = Field(alias="_id")
    branch: str | None = None
    base_commit: str | None = None
    author_name: str | None = None
    author_email: str
    message: str | None = None
    session_type: SessionType
    start_time: UtcDatetime
    expiration: UtcDatetime


class SessionExpirationUpdate(RequestBody):
    session_id: SessionId
    expires_in: timedelta

    @model_validator(mode="after")
    def _lifetime(self) -> SessionExpirationUpdate:
        _check_lifetime(self.expires_in)
        return self


class NewCommit(RequestBody):
    """Body of ``PUT /commits``: turns the session's writes into a commit on top of ``parent_commit``."""

    session_id: SessionId
    session_start_time: UtcDatetime
    parent_commit: CommitId | None = None
    commit_time: UtcDatetime
    author_name: str | None = Field(default=None, max_length=256)
    author_email: str = Field(max_length=320)
    message: str = Field(max_length=65536)


class Commit(WireModel):
    id: str = Field(alias="_id")
    session_start_time: UtcDatetime
    parent_commit: str | None = None
    commit_time: UtcDatetime
    author_name: str | None = None
    author_email: str
    message: str


class CreatedCommit(WireModel):
    """Answer of ``PUT /commits``."""

    id: str = Field(alias="_id")


class UpdateBranchBody(RequestBody):
    """Body of ``PUT /branches``: a compare-and-swap from ``base_commit`` to ``new_commit``, or a creation."""

    branch: RefName
    new_commit: CommitId
    new_branch: bool = False
    base_commit: CommitId | None = None
    session_id: SessionId | None = None


class Branch(WireModel):
    id: str = Field(alias="_id")
    commit_id: str


class NewTag(RequestBody):
    label: RefName
    commit_id: CommitId
    message: str | None = Field(default=None, max_length=65536)
    author_name: str | None = Field(default=None, max_length=256)
    author_email: str = Field(max_length=320)


class Tag(WireModel):
    """A tag; ``_id`` and ``commit_id`` are repeated for clients up to 0.9.5."""

    label: str
    created_at: UtcDatetime
    commit: Commit
    message: str | None = None
    author_name: str | None = None
    author_email: str

    @computed_field(alias="_id")  # type: ignore[prop-decorator]
    @property
    def tag_id(self) -> str:
        return self.label

    @computed_field  # type: ignore[prop-decorator]
    @property
    def commit_id(self) -> str:
        return self.commit.id


class Acknowledged(WireModel):
    acknowledged: bool = True


class Changed(Acknowledged):
    """Answer of a write of documents: how many it wrote, deleted or moved."""

    count: int


class RebaseResponse(WireModel):
    commit_id: str | None


class BulkCreateDocBody(RequestBody):
    session_id: SessionId
    content: dict[str, Any]
    path: str = Field(max_length=1024)


class DocResponse(WireModel):
    id: str
    session_id: str
    path: str
    content: dict[str, Any] | None = None
    deleted: bool = False


class DocSessionsResponse(WireModel):
    id: str = Field(alias="_id")
    session_id: str
    deleted: bool
    chunksize: int = 0


class SessionPathsResponse(WireModel):
    id: str = Field(alias="_id")
    path: str
    deleted: bool


class PathSizeResponse(WireModel):
    path: str
    number_of_chunks: int
    total_chunk_bytes: int


class Tree(WireModel):
    """A group: its sub-groups, its arrays (their metadata documents) and its attributes."""

    trees: dict[str, Tree] = Field(default_factory=dict)
    arrays: dict[str, dict[str, Any]] = Field(default_factory=dict)
    attributes: dict[str, Any] = Field(default_factory=dict)


class ChunkHash(WireModel):
    method: str = Field(min_length=1, max_length=128)
    token: str = Field(min_length=1, max_length=256)


_STORE_SCHEMES = ("s3://", "gs://")
INLINE_SCHEME = "inline://"


class ReferenceData(WireModel):
    """A chunk reference (the content of a ``chunks`` document): exactly one of four kinds.

    - materialized V1: ``v=1``, no ``uri``, a hash and the writing session's ``sid``
    - materialized V0: ``v`` null, ``uri`` the object's ``s3://``/``gs://`` URL, a hash, no ``sid``
    - inline: ``uri`` ``inline://...`` and a hash
    - virtual: no hash, ``uri`` an ``s3://``/``gs://`` URL of an outside file
    """

    uri: str | None = Field(default=None, max_length=4096)
    offset: int = Field(ge=0)
    length: int = Field(ge=0)
    hash: ChunkHash | None = None
    v: Literal[1] | None = None
    sid: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_kind(self) -> ReferenceData:
        if self.v == 1 and not self.sid:
            raise ValueError("a version 1 chunk reference must carry the session id (sid)")
        uri = self.uri
        if uri is not None and uri.startswith(INLINE_SCHEME):
            if self.hash is None:
                raise ValueError("an inline chunk reference needs a hash")
        elif self.hash is None:
            if uri is None or not uri.startswith(_STORE_SCHEMES):
                raise ValueError("a virtual chunk reference needs an s3:// or gs:// uri")
        elif uri is None:
            if self.v != 1:
                raise ValueError("a chunk reference without uri must be version 1 (v=1)")
        elif self.v is not None:
            raise ValueError("a materialized chunk reference with a uri is version 0 (v=null)")
        elif not uri.startswith(_STORE_SCHEMES):
            raise ValueError("a version 0 chunk reference needs an s3:// or gs:// uri")
        elif self.sid is not None:
            raise ValueError("a version 0 chunk reference carries no session id")
        return self
