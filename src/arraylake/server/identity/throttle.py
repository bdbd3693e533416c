"""Slowing down password guessing: after a few failed sign-ins for an email or from an address, each
further attempt must wait, twice as long after every failure (up to a maximum)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import login_failures
from arraylake.types import utcnow


class SignInThrottled(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


def _keys(email: str, address: str | None) -> list[str]:
    keys = [f"email:{email.lower()}"]
    if address:
        keys.append(f"addr:{address}")
    return keys


def _wait(failures: int, allowed: int, maximum: int) -> timedelta:
    if failures < allowed:
        return timedelta(0)
    return timedelta(seconds=min(maximum, 2 ** (failures - allowed)))


async def check(
    conn: AsyncConnection, email: str, address: str | None, *, allowed: int, maximum: int
) -> None:
    """Raise :class:`SignInThrottled` if a sign-in for this email or address must wait."""
    now = utcnow()
    rows = (
        await conn.execute(select(login_failures).where(login_failures.c.key.in_(_keys(email, address))))
    ).all()
    retry: datetime | None = None
    for row in rows:
        ready = row.last_failure_at + _wait(row.failures, allowed, maximum)
        if ready > now and (retry is None or ready > retry):
            retry = ready
    if retry is not None:
        raise SignInThrottled(max(1, int((retry - now).total_seconds()) + 1))


async def record_failure(conn: AsyncConnection, email: str, address: str | None) -> None:
    now = utcnow()
    for key in _keys(email, address):
        updated = await conn.execute(
            update(login_failures)
            .where(login_failures.c.key == key)
            .values(failures=login_failures.c.failures + 1, last_failure_at=now)
        )
        if updated.rowcount == 0:
            await conn.execute(insert(login_failures).values(key=key, failures=1, last_failure_at=now))


async def reset(conn: AsyncConnection, email: str) -> None:
    await conn.execute(delete(login_failures).where(login_failures.c.key == f"email:{email.lower()}"))
