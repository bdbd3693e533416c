"""Who is asking: a principal with its org memberships and repo grants, as the access policy sees them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from arraylake.types import OrgRole, PrincipalKind, RepoActions, UserInfo

__all__ = ["Grant", "Membership", "OrgScope", "Principal", "PrincipalKind", "user_info"]


@dataclass(frozen=True)
class OrgScope:
    """An org a request is about."""

    org_id: str
    org_name: str


@dataclass(frozen=True)
class Membership(OrgScope):
    role: OrgRole


@dataclass(frozen=True)
class Grant:
    """Actions granted to a principal on one repo."""

    org_id: str
    repo_id: str
    actions: frozenset[RepoActions]


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
    session_id: str | None = None
    memberships: dict[str, Membership] = field(default_factory=dict)
    """By org name."""
    grants: dict[tuple[str, str], Grant] = field(default_factory=dict)
    """By (org name, repo name)."""

    @property
    def author_name(self) -> str | None:
        parts = [p for p in (self.first_name, self.family_name) if p]
        return " ".join(parts) if parts else (self.display_name or None)


def user_info(principal: Principal) -> UserInfo:
    """A user as the API describes them."""
    return UserInfo(
        id=uuid.UUID(principal.id),
        first_name=principal.first_name,
        family_name=principal.family_name,
        email=principal.email,
    )
