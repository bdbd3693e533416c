"""Slowing down password guessing, per client address and per account.

Every sign-in attempt is counted *before* its password is checked, with a compare-and-swap on the key's row
(the same statements on SQLite and PostgreSQL). Of any number of concurrent attempts, only those the limit
still allows get to check a password; a correct password then takes its count back. After ``allowed``
failures a key makes further attempts wait, twice as long after every failure (up to ``maximum`` seconds).
A key whose last failure is older than :data:`FORGET_AFTER` starts again from nothing.

Two keys, so that the throttle slows guessing without becoming a way to lock someone out:

- the **address** key (the client address, as the service sees it after trusted proxies) always applies:
  one address cannot guess faster, whichever accounts it tries;
- the **account** key (the normalised email, :func:`~arraylake.server.identity.emails.login_key`) applies
  to attempts from addresses that have failed recently. Guesses spread over many addresses that have
  failed are slowed, yet a correct password from an address with no failures is still accepted while the
  account is slowed: an attacker hammering an account cannot keep its owner out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arraylake.server.db.schema import login_failures
from arraylake.types import utcnow

FORGET_AFTER = timedelta(days=1)
_RACES = 200  # compare-and-swap rounds lost to other attempts before giving up (each loss is their progress)


class SignInThrottled(Exception):
    def __init__(self, retry_after: int):
        super().__init__(retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    """Failures allowed per address and per account before waits start, and the longest wait (seconds)."""

    address_allowed: int
    account_allowed: int
    maximum: int


@dataclass
class Attempt:
    """A sign-in attempt already counted as a failure; :meth:`succeeded` takes it back."""

    address_key: str
    account_key: str
    counted: list[str] = field(default_factory=list)

    async def succeeded(self, engine: AsyncEngine) -> None:
        """The password was right: forget the account's failures and uncount this attempt."""
        async with engine.begin() as conn:
            await conn.execute(delete(login_failures).where(login_failures.c.key == self.account_key))
            if self.address_key in self.counted:
                await _uncount(conn, self.address_key)


def _wait(failures: int, allowed: int, maximum: int) -> timedelta:
    if failures < allowed:
        return timedelta(0)
    return timedelta(seconds=min(maximum, 2 ** (failures - allowed)))


def _retry_after(ready: datetime) -> int:
    return max(1, int((ready - utcnow()).total_seconds()) + 1)


async def _uncount(conn: AsyncConnection, key: str) -> None:
    await conn.execute(
        update(login_failures)
        .where(login_failures.c.key == key, login_failures.c.failures > 0)
        .values(failures=login_failures.c.failures - 1)
    )


async def _count(
    engine: AsyncEngine, key: str, allowed: int, maximum: int, *, enforce: bool
) -> tuple[int, datetime | None]:
    """Count one attempt against ``key`` unless it must wait.

    Returns the failures the key had before (0 if none or forgotten) and, if the attempt must wait (and
    was not counted), when it may be made.
    """
    for _ in range(_RACES):
        # Read outside a write transaction: on SQLite a read that later tries to write can fail at once
        # when another writer got there first; the single-statement swap below just queues instead.
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(login_failures.c.failures, login_failures.c.last_failure_at).where(
                        login_failures.c.key == key
                    )
                )
            ).one_or_none()
        now = utcnow()
        if row is None:
            try:
                async with engine.begin() as conn:
                    await conn.execute(
                        insert(login_failures).values(key=key, failures=1, last_failure_at=now)
                    )
            except IntegrityError:
                continue  # another attempt created it first
            return 0, None
        seen = 0 if now - row.last_failure_at > FORGET_AFTER else row.failures
        ready = row.last_failure_at + _wait(seen, allowed, maximum)
        if enforce and ready > now:
            return seen, ready
        async with engine.begin() as conn:
            swapped = await conn.execute(
                update(login_failures)
                .where(login_failures.c.key == key, login_failures.c.failures == row.failures)
                .values(failures=seen + 1, last_failure_at=now)
            )
        if swapped.rowcount == 1:
            return seen, None
    return 0, utcnow() + timedelta(seconds=1)  # fail closed


async def begin(engine: AsyncEngine, account: str, address: str | None, limits: Limits) -> Attempt:
    """Count a sign-in attempt for ``account`` (a normalised email) from ``address``.

    Raises :class:`SignInThrottled` (and counts nothing) if the attempt must wait.
    """
    attempt = Attempt(address_key=f"addr:{address or 'unknown'}", account_key=f"email:{account}")
    address_failures, ready = await _count(
        engine, attempt.address_key, limits.address_allowed, limits.maximum, enforce=True
    )
    if ready is not None:
        raise SignInThrottled(_retry_after(ready))
    attempt.counted.append(attempt.address_key)
    _, ready = await _count(
        engine,
        attempt.account_key,
        limits.account_allowed,
        limits.maximum,
        enforce=address_failures > 0,
    )
    if ready is not None:
        async with engine.begin() as conn:
            await _uncount(conn, attempt.address_key)  # not tried, so not a failure of this address
        raise SignInThrottled(_retry_after(ready))
    attempt.counted.append(attempt.account_key)
    return attempt
