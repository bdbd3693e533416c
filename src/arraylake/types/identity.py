"""Who a principal is: a user, an API client (and the client a token belongs to), the orgs it sees and
whether it may do something.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import EmailStr, Field, field_validator

from arraylake.names import validate_org_name
from arraylake.types.common import UtcDatetime, WireModel


class UserInfo(WireModel):
    id: UUID
    first_name: str | None = None
    family_name: str | None = None
    email: EmailStr


class ApiTokenInfo(WireModel):
    id: UUID
    client_id: str
    email: EmailStr
    expiration: int


class OrgResponse(WireModel):
    id: str
    name: str
    display_name: str = ""
    description: str | None = None
    avatar_url: str | None = None
    contact_email: str | None = None
    created: UtcDatetime
    created_by: str | None = None
    status: str = "active"
    permissions: list[Any] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_org_name(value)


class PermissionCheckResponse(WireModel):
    has_permission: bool


class ApiClientResponse(WireModel):
    """The API client a token belongs to (``/orgs/{org}/api-clients/authenticate``), in both the 0.15 and
    1.7 shapes of the hosted dialect."""

    id: UUID = Field(alias="_id")
    client_id: UUID
    email: str
    created: UtcDatetime
    expiration: UtcDatetime | None = None
    last_used: UtcDatetime | None = None
