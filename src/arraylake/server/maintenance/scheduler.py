"""The scheduler every service worker runs: purges of deleted repos, due maintenance runs, audit checkpoints.

Each round does what is due and sleeps ``janitor_interval_seconds``. Work is claimed through leases in the
catalog, so that any number of workers can run it and each piece of work is done once.
"""

from __future__ import annotations

import asyncio

from arraylake.server import metrics
from arraylake.server.audit.checkpoints import checkpoint_if_due
from arraylake.server.context import AppContext
from arraylake.server.logs import get_logger
from arraylake.server.repos.cleanup import Cleaner

log = get_logger("arraylake.server.scheduler")


async def run_scheduler(ctx: AppContext) -> None:
    """Run rounds until cancelled; a failed round is logged and the next one tries again."""
    cleaner = Cleaner(ctx.engine, ctx.codec, ctx.vendor)
    while True:
        try:
            await cleaner.run_once()
            await checkpoint_if_due(ctx.engine, ctx.signer, ctx.settings)
            metrics.JANITOR_ROUNDS.labels("ok").inc()
        except Exception as exc:
            metrics.JANITOR_ROUNDS.labels("failed").inc()
            log.warning("scheduler round failed", error=str(exc))
        await asyncio.sleep(ctx.settings.janitor_interval_seconds)
