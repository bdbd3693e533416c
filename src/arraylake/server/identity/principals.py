"""Who is asking: a principal and its org memberships, as the access policy sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class PrincipalKind(StrEnum):
    USER = "user"
    API_CLIENT = "api_client"


class Role(StrEnum):
    ADMIN = "admin"
    REPO_WRITER = "repo_writer"
    REPO_READER = "repo_reader"
    MEMBER = "member"


@dataclass(frozen=True)
class Membership:
    org_id: str
    org_name: str
    role: Role


@dataclass(frozen=True)
class Principal:
    id: str
    kind: PrincipalKind
    email: str
    display_name: str
    first_name: str | None = None
    family_name: str | None = None
    token_id: str | None = None
    token_expires_at: datetime | None = None
    memberships: dict[str, Membership] = field(default_factory=dict)
    """By org name."""

    @property
    def author_name(self) -> str | None:
        parts = [p for p in (self.first_name, self.family_name) if p]
        return " ".join(parts) if parts else (self.display_name or None)
