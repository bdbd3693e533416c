"""Repos in the catalog: their records, metadata, status, the bodies that create, import and change them,
and everything a client needs to open one (``GET /repos/{org}/{repo}/open``).
"""

from __future__ import annotations

import json
import math
from typing import Any
from uuid import UUID

from pydantic import EmailStr, Field, field_validator

from arraylake.names import validate_nickname, validate_prefix, validate_repo_name
from arraylake.types.buckets import BucketResponse
from arraylake.types.common import RequestBody, UtcDatetime, WireModel, check_text, utcnow
from arraylake.types.enums import CreateMode, RepoKind, RepoOperationMode, RepoVisibility
from arraylake.types.maintenance import OptimizationConfig
from arraylake.types.storage_credentials import AnyCredentials
from arraylake.types.virtual_chunks import VirtualChunkCredentials

MetadataScalar = str | int | float | bool | None
RepoMetadata = dict[str, MetadataScalar | list[MetadataScalar]]
MAX_METADATA_BYTES = 4096
MAX_DESCRIPTION_LENGTH = 255


def validate_metadata(value: RepoMetadata | None) -> RepoMetadata | None:
    """Metadata is a flat JSON object of scalars or lists of scalars, at most 4 KiB, of storable text."""
    if value is None:
        return None
    check_text(value, max_depth=2)
    for key, item in value.items():
        if not key or len(key) > 128:
            raise ValueError("metadata keys must have 1 to 128 characters")
        items = item if isinstance(item, list) else [item]
        if any(isinstance(x, float) and not math.isfinite(x) for x in items):
            raise ValueError(f"metadata[{key!r}]: NaN and infinity are not JSON")
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes of JSON")
    return value


class RepoDeletionProgress(WireModel):
    """How far the removal of a deleted repo's data has come (``in_progress`` false once it is done)."""

    repo_id: str
    in_progress: bool
    removed_objects: int = 0


class RepoOperationStatusResponse(WireModel):
    mode: RepoOperationMode = RepoOperationMode.ONLINE
    message: str | None = None
    initiated_by: dict[str, Any] = Field(default_factory=dict)
    is_user_modifiable: bool = True
    estimated_end_time: UtcDatetime | None = None


class RepoOperationStatusUpdate(RequestBody):
    """Body of ``PUT /orgs/{org}/{repo}/status``."""

    mode: RepoOperationMode
    message: str | None = Field(default=None, max_length=1000)


class Repo(WireModel):
    """A repo in the catalog (the documented ``RepoModel``)."""

    id: str = Field(alias="_id", pattern=r"^([0-9a-f]{2})+$")
    org: str
    name: str
    created: UtcDatetime = Field(default_factory=utcnow)
    updated: UtcDatetime = Field(default_factory=utcnow)
    description: str | None = None
    metadata: RepoMetadata | None = None
    created_by: UUID | None = None
    visibility: RepoVisibility = RepoVisibility.PRIVATE
    bucket: BucketResponse | None = None
    status: RepoOperationStatusResponse = Field(default_factory=RepoOperationStatusResponse)
    kind: RepoKind = RepoKind.Icechunk
    prefix: str
    deleted_at: UtcDatetime | None = None
    deleted_by: UUID | None = None
    # Extensions of the hosted protocol, set on soft-deleted repos only (listed with include_ghosts).
    deleted_by_email: str | None = None
    restorable_until: UtcDatetime | None = None  # then the repo and its data are removed for good
    retain_data: bool = False
    optimization_config: OptimizationConfig = Field(default_factory=OptimizationConfig)
    """The repo's own maintenance policy; parts left ``None`` come from the org's default."""
    # Extension: the chunk bytes reachable from its branches and tags, as its last maintenance run measured.
    size_bytes: int | None = None

    @property
    def full_name(self) -> str:
        return f"{self.org}/{self.name}"


RepoModel = Repo


class _NewRepoBody(RequestBody):
    """The fields, and their rules, of every body that adds a repo to the catalog."""

    name: str
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    bucket_nickname: str | None = None
    kind: RepoKind = RepoKind.Icechunk
    metadata: RepoMetadata | None = None
    prefix: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_repo_name(value, new=True)

    @field_validator("bucket_nickname")
    @classmethod
    def _nickname(cls, value: str | None) -> str | None:
        return None if value is None else validate_nickname(value)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        checked = validate_prefix(value, what="repo prefix")
        if not checked:
            raise ValueError("repo prefix must not be empty; leave it out to get a generated one")
        return checked

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: RepoMetadata | None) -> RepoMetadata | None:
        return validate_metadata(value)


class RepoCreateBody(_NewRepoBody):
    """Body of ``POST /orgs/{org}/repos``."""

    create_mode: CreateMode = CreateMode.REGISTER
    spec_version: int | None = None


class RepoImportBody(_NewRepoBody):
    """Body of ``POST /orgs/{org}/repos/import``: register an Icechunk repository that already exists.

    Validated by the same rules as a new repo's body, so that every bad field is a 422 before any work.
    """

    prefix: str  # type: ignore[assignment]  # required here: the prefix of the existing repository

    def as_create_body(self) -> RepoCreateBody:
        return RepoCreateBody(
            name=self.name,
            description=self.description,
            bucket_nickname=self.bucket_nickname,
            kind=self.kind,
            metadata=self.metadata,
            prefix=self.prefix,
            create_mode=CreateMode.IMPORT,
        )


class RepoModifyRequest(RequestBody):
    """Body of ``PATCH /orgs/{org}/{repo}``: only the given keys change."""

    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    add_metadata: RepoMetadata | None = None
    remove_metadata: list[str] | None = None
    update_metadata: RepoMetadata | None = None
    optimization_config: OptimizationConfig | None = None
    """Replaces the repo's maintenance policy (needs the right to manage the repo)."""


class PaginatedRepos(WireModel):
    items: list[Repo]
    total: int
    page: int
    size: int
    pages: int


class Author(WireModel):
    name: str | None = None
    email: EmailStr


class OpenRepoResponse(WireModel):
    """Everything a client needs to open a repo, in one response (``GET /repos/{org}/{repo}/open``)."""

    repo_bucket: BucketResponse
    repo_prefix: str
    repo_credentials: AnyCredentials | None = None
    virtual_chunk_credentials: dict[str, VirtualChunkCredentials] = Field(default_factory=dict)
    author: Author
    principal_id: str
    status: RepoOperationStatusResponse
    kind: RepoKind = RepoKind.Icechunk
    """V1 repos open without Icechunk: their history is served by ``/repos/{org}/{repo}/...`` routes."""
