"""Signed checkpoints of the audit chain, written by the scheduler.

A checkpoint is the (seq, hash) of the head, signed with the service's key: rewriting entries up to it, even
recomputing every later hash, no longer matches it. A checkpoint only extends a chain that verifies from the
previous checkpoint, so that the service never signs a log someone has already changed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server.audit.chain import GENESIS
from arraylake.server.audit.verify import ChainWalk, entries_after
from arraylake.server.db.schema import AUDIT_HEAD_ID, audit_checkpoints, audit_head
from arraylake.server.identity.signing import TokenSigner
from arraylake.server.logs import get_logger
from arraylake.server.settings import ServerSettings
from arraylake.types import utcnow

CHECKPOINT_AGE = timedelta(seconds=60)
"""A checkpoint older than this is followed by a new one as soon as any entry follows it."""

log = get_logger("arraylake.server.audit")


async def checkpoint_if_due(engine: AsyncEngine, signer: TokenSigner, settings: ServerSettings) -> int | None:
    """Write a checkpoint of the chain's head when one is due; its seq, or ``None`` when none was due (or
    another worker wrote it first, or the chain since the last checkpoint does not verify)."""
    now = utcnow()
    async with engine.connect() as conn:
        head = (await conn.execute(select(audit_head).where(audit_head.c.id == AUDIT_HEAD_ID))).one()
        last = (
            await conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1))
        ).one_or_none()
        after, after_hash = (int(last.seq), str(last.hash)) if last else (0, GENESIS)
        behind = head.seq - after
        if behind <= 0:
            return None
        recent = last is not None and now - last.at < CHECKPOINT_AGE
        if behind < settings.audit_checkpoint_entries and recent:
            return None
        walk = ChainWalk(after=after, last_hash=after_hash)
        async for entry in entries_after(conn, after, until=head.seq):
            broken = walk.step(entry)
            if broken is not None:
                log.warning(
                    "audit chain broken: no checkpoint written", seq=broken.seq, problem=broken.problem
                )
                return None
        if walk.after != head.seq or walk.last_hash != head.hash:
            log.warning(
                "audit head does not match the log: no checkpoint written", head=head.seq, end=walk.after
            )
            return None
    signature = signer.sign_document({"seq": head.seq, "hash": head.hash, "at": now.isoformat()})
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(audit_checkpoints).values(seq=head.seq, hash=head.hash, at=now, signature=signature)
            )
    except IntegrityError:
        return None  # another worker checkpointed this head first
    return int(head.seq)
