"""Virtual chunk containers: the credentials handed out for them and the org policies that allow them."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import field_validator

from arraylake.names import validate_prefix
from arraylake.types.common import RequestBody, UtcDatetime, WireModel
from arraylake.types.enums import Platform
from arraylake.types.storage_credentials import AnyCredentials


class VirtualChunkCredentials(WireModel):
    credentials: AnyCredentials | None = None
    org: str
    bucket_nickname: str
    platform: Platform
    runtime_vcc_name: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    allow_http: bool = False
    force_path_style: bool = False


class VirtualChunkPolicyRequest(RequestBody):
    """Let the org's repos read virtual chunks from a bucket config (or a sub-prefix of it)."""

    use_case: Literal["explicit"] = "explicit"
    bucket_id: UUID
    subprefix: str = ""
    public: bool = False
    """Public data: readers get no credentials for it (anonymous reads)."""

    @field_validator("subprefix")
    @classmethod
    def _subprefix(cls, value: str) -> str:
        return validate_prefix(value.strip("/"), what="subprefix")


class VirtualChunkPolicy(VirtualChunkPolicyRequest):
    url_prefix: str
    created: UtcDatetime
    created_by: str | None = None


class PaginatedVirtualChunkPolicies(WireModel):
    items: list[VirtualChunkPolicy]
    total: int
    page: int
    size: int
    pages: int
