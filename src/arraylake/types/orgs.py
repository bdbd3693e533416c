"""Managing an org: roles, members, repo grants, API clients and their tokens."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import Field, field_validator

from arraylake.names import validate_org_name
from arraylake.types.common import RequestBody, UtcDatetime, WireModel, WireSecret
from arraylake.types.enums import RepoActions


class OrgRole(StrEnum):
    """A principal's role in an org."""

    ADMIN = "admin"
    """Everything in the org: repos, bucket configs, members, API clients."""
    REPO_WRITER = "repo_writer"
    """Create repos; read and write every repo."""
    REPO_READER = "repo_reader"
    """Read every repo."""
    MEMBER = "member"
    """Only the repos granted to them."""


class PrincipalKind(StrEnum):
    USER = "user"
    API_CLIENT = "api_client"


class OrgCreateRequest(RequestBody):
    name: str
    display_name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=1000)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_org_name(value)


class OrgMember(WireModel):
    principal_id: UUID
    kind: PrincipalKind
    email: str
    name: str | None = None
    role: OrgRole


class MemberAddRequest(RequestBody):
    """Add a user (by email or id) or an API client of the org (by id) as a member."""

    principal: str = Field(min_length=1, max_length=320, description="Email of a user, or a principal id")
    role: OrgRole = OrgRole.MEMBER


class MemberRoleUpdate(RequestBody):
    role: OrgRole


class RepoGrant(WireModel):
    principal_id: UUID
    kind: PrincipalKind
    email: str
    actions: list[RepoActions]


class RepoGrantRequest(RequestBody):
    principal: str = Field(min_length=1, max_length=320, description="Email of a user, or a principal id")
    actions: list[RepoActions] = Field(min_length=1)


class ApiTokenSummary(WireModel):
    id: UUID
    hint: str
    name: str = ""
    created: UtcDatetime
    expires_at: UtcDatetime | None = None
    last_used_at: UtcDatetime | None = None
    revoked_at: UtcDatetime | None = None


class ApiClientCreateRequest(RequestBody):
    name: str = Field(min_length=1, max_length=128)
    role: OrgRole = OrgRole.REPO_READER
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class ApiClientInfo(WireModel):
    id: UUID = Field(alias="_id")
    name: str
    email: str
    role: OrgRole | None = None
    created: UtcDatetime
    disabled_at: UtcDatetime | None = None
    tokens: list[ApiTokenSummary] = Field(default_factory=list)


class ApiTokenCreateRequest(RequestBody):
    name: str = Field(default="", max_length=128)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class ApiTokenCreated(WireModel):
    """A new API token: the only time it is shown in clear."""

    id: UUID
    client_id: UUID
    token: WireSecret
    expires_at: UtcDatetime | None = None


class ApiClientCreated(WireModel):
    client: ApiClientInfo
    token: ApiTokenCreated
