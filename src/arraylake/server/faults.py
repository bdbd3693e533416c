"""Named fault points, for tests: crash points prove recovery after a process dies mid-operation, pause
points make fast work slow enough to watch, hold points wait while a test holds them, fail points raise
an unexpected error.

When the ``fault_injection`` setting names a crash point, the process exits at once (no cleanup, like
SIGKILL) when it reaches that point; a pause point waits a moment there; a fail point raises
:class:`InjectedFault`. Unset in production, where all do nothing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from arraylake.server.settings import ServerSettings

DELETE_AFTER_FIRST_BATCH = "delete:after-first-batch"
CREATE_AFTER_RESERVE = "create:after-reserve"
DELETE_SLOWLY = "delete:slowly"
CREATE_FAILS = "create:fails"
V1_COMMIT_IN_TRANSACTION = "v1-commit:in-transaction"
V1_COMMIT_BEFORE_BRANCH = "v1-commit:before-branch"
V1_BRANCH_IN_TRANSACTION = "v1-branch:in-transaction"
MAINTENANCE_AFTER_EXPIRE = "maintenance:after-expire"
MAINTENANCE_SLOWLY = "maintenance:slowly"
MAINTENANCE_HELD = "maintenance:held"
KNOWN_POINTS = frozenset(
    {
        DELETE_AFTER_FIRST_BATCH,
        CREATE_AFTER_RESERVE,
        DELETE_SLOWLY,
        CREATE_FAILS,
        V1_COMMIT_IN_TRANSACTION,
        V1_COMMIT_BEFORE_BRANCH,
        V1_BRANCH_IN_TRANSACTION,
        MAINTENANCE_AFTER_EXPIRE,
        MAINTENANCE_SLOWLY,
        MAINTENANCE_HELD,
    }
)
PAUSE_SECONDS = 0.2


def crash_point(settings: ServerSettings, name: str) -> None:
    if settings.fault_injection == name:
        sys.stderr.write(f"fault injection: exiting at {name}\n")
        sys.stderr.flush()
        os._exit(70)


async def pause_point(settings: ServerSettings, name: str) -> None:
    if settings.fault_injection == name:
        await asyncio.sleep(PAUSE_SECONDS)


HOLD_LIMIT_SECONDS = 120.0


def hold_file(settings: ServerSettings, name: str) -> Path:
    """While this file exists, the hold point ``name`` waits."""
    return settings.data_dir / "faults" / ("hold-" + name.replace(":", "-"))


async def hold_point(settings: ServerSettings, name: str) -> None:
    """Wait at ``name`` while a test keeps :func:`hold_file` in place (at most ``HOLD_LIMIT_SECONDS``)."""
    if settings.fault_injection != name:
        return
    held = hold_file(settings, name)
    deadline = time.monotonic() + HOLD_LIMIT_SECONDS
    while held.exists() and time.monotonic() < deadline:  # noqa: ASYNC110 (a file, not an event)
        await asyncio.sleep(0.1)


class InjectedFault(RuntimeError):
    """The error a fail point raises: a stand-in for a bug."""


def fail_point(settings: ServerSettings, name: str) -> None:
    if settings.fault_injection == name:
        raise InjectedFault(f"fault injection: failing at {name}")
