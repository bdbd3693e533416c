"""The audit log as clients see it: entries, pages of them, and the answer of a chain verification."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from arraylake.types.common import UtcDatetime, WireModel

AuditOutcome = Literal["ok", "failed", "denied"]


class AuditEntry(WireModel):
    """One security-relevant event. ``details`` never holds a secret (no token, key or password)."""

    seq: int
    at: UtcDatetime
    action: str
    """What happened, ``domain.verb``: e.g. ``auth.sign_in``, ``repo.delete``, ``credentials.vend``."""
    outcome: AuditOutcome
    org: str | None = None
    actor_id: str | None = None
    actor: str | None = None
    """Who: a user's email, an API client's, or ``arraylake-service`` for the service's own work."""
    repo: str | None = None
    target: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = None
    client_address: str | None = None
    prev_hash: str
    hash: str


class AuditPage(WireModel):
    items: list[AuditEntry]
    next_cursor: str | None = None
    """Pass as ``cursor`` for the next (older) page; ``None`` at the end."""


class AuditVerification(WireModel):
    """The answer of ``verify``: whether the chain holds, and if not the first entry where it breaks."""

    ok: bool
    entries: int
    """How many entries were checked."""
    checkpoints: int
    first_seq: int | None = None
    last_seq: int | None = None
    broken_seq: int | None = None
    """The first entry whose hash, link or position is wrong (or that is missing)."""
    problem: str | None = None
