"""Reading the audit log: an org's entries for its admins, everything (and verification) for operators.

These are methods of :class:`arraylake.AsyncClient` (and, synchronously, :class:`arraylake.Client`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from arraylake.client.transport import Transport
from arraylake.names import validate_org_name
from arraylake.types.audit import AuditEntry, AuditPage, AuditVerification

PAGE_SIZE = 1000
"""Entries asked for per request when following pages."""


def _moment(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _entries_path(org: str | None) -> str:
    return "/audit/entries" if org is None else f"/orgs/{validate_org_name(org)}/audit/entries"


class AuditMethods:
    """The audit log, on top of the client's transport."""

    _transport: Transport

    async def iter_audit_entries(
        self,
        org: str | None = None,
        *,
        principal: str | None = None,
        repo: str | None = None,
        action: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
    ) -> AsyncGenerator[AuditEntry]:
        """Like :meth:`list_audit_entries`, one entry at a time as pages arrive (for long exports)."""
        params: dict[str, Any] = {
            "principal": principal,
            "repo": repo,
            "action": action,
            "since": _moment(since),
            "until": _moment(until),
        }
        path = _entries_path(org)
        left = limit
        cursor: str | None = None
        while left is None or left > 0:
            size = PAGE_SIZE if left is None else min(left, PAGE_SIZE)
            asked = {k: v for k, v in {**params, "limit": size, "cursor": cursor}.items() if v is not None}
            page = AuditPage.model_validate(await self._transport.get_json(path, params=asked))
            for entry in page.items:
                yield entry
            if left is not None:
                left -= len(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return

    async def list_audit_entries(
        self,
        org: str | None = None,
        *,
        principal: str | None = None,
        repo: str | None = None,
        action: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Audit log entries, newest first: sign-ins, tokens, roles and grants, bucket configs, credential
        vends, repo lifecycle, compute services, maintenance runs.

        Args:
            org: The org whose log to read (its admins may). ``None``: every org's, and the service's own
                entries (the service's operators may).
            principal: Only entries of this actor: a user's or API client's id, or their email.
            repo: Only entries about the repo of this name.
            action: Only this action (e.g. ``"repo.delete"``), or, ending in ``.``, every action of a
                domain (``"repo."``, ``"auth."``).
            since: Only entries at or after this time (naive datetimes are UTC).
            until: Only entries at or before this time.
            limit: At most this many entries; ``None``: all of them (following pages).
        """
        return [
            entry
            async for entry in self.iter_audit_entries(
                org, principal=principal, repo=repo, action=action, since=since, until=until, limit=limit
            )
        ]

    async def verify_audit_log(self, org: str | None = None) -> AuditVerification:
        """Verify that nobody changed, removed or reordered audit entries: every entry's hash, the chain of
        hashes, and the service's signed checkpoints.

        Args:
            org: Verify as an admin of this org (the answer names only entry numbers); ``None``: as an
                operator of the service.

        Returns:
            Whether the chain holds, how many entries and checkpoints were checked, and otherwise the first
            broken entry (``broken_seq``) and what is wrong with it (``problem``).
        """
        path = "/audit/verify" if org is None else f"/orgs/{validate_org_name(org)}/audit/verify"
        return AuditVerification.model_validate(await self._transport.get_json(path))
