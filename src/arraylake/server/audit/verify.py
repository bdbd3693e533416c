"""Verifying the audit chain: every entry's hash, its link to the one before, no gap in ``seq``, the head,
and every signed checkpoint.

A changed entry fails its own hash; a deleted one leaves a gap; an entry whose hash was recomputed breaks the
link of the next one; a rewrite of the whole tail (recomputing every later hash and the head, which anyone
with write access to the catalog can do) no longer matches the checkpoints, which need the service's
signing key. Problems name only ``seq`` numbers and the kind of break, never an entry's contents, so that
an org admin may read them too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.chain import GENESIS, entry_hash
from arraylake.server.db.engine import make_engine
from arraylake.server.db.schema import AUDIT_HEAD_ID, audit_checkpoints, audit_head, audit_log
from arraylake.server.identity.signing import TokenSigner
from arraylake.server.settings import ServerSettings
from arraylake.types.audit import AuditVerification

BATCH = 10_000


@dataclass(frozen=True, slots=True)
class Break:
    """Where and how the chain breaks."""

    seq: int
    problem: str


@dataclass
class ChainWalk:
    """Checks entries one after the other, from ``after`` (the seq and hash of the entry before the
    first one given; ``0`` and :data:`GENESIS` from the start)."""

    after: int = 0
    last_hash: str = GENESIS
    checked: int = 0
    checkpoints: Mapping[int, str] = field(default_factory=dict)
    """A hash per seq that signed checkpoints vouch for."""

    def step(self, entry: Mapping[str, Any]) -> Break | None:
        """Check the next entry; the break it shows, or ``None``."""
        seq = int(entry["seq"])
        expected = self.after + 1
        if seq != expected:
            missing = (
                f"entry {expected} is missing"
                if seq == expected + 1
                else (f"entries {expected} to {seq - 1} are missing")
            )
            return Break(expected, missing)
        if entry["prev_hash"] != self.last_hash:
            return Break(
                seq, f"entry {seq} does not follow entry {seq - 1}: it names another as the one before"
            )
        if entry_hash(entry) != entry["hash"]:
            return Break(seq, f"entry {seq} was changed: its hash does not match its contents")
        signed = self.checkpoints.get(seq)
        if signed is not None and signed != entry["hash"]:
            start = max((s for s in self.checkpoints if s < seq), default=0) + 1
            return Break(
                seq,
                f"entry {seq} does not match the signed checkpoint at {seq}: the log was rewritten "
                f"between entries {start} and {seq}",
            )
        self.after, self.last_hash = seq, str(entry["hash"])
        self.checked += 1
        return None


async def entries_after(
    conn: AsyncConnection, seq: int, *, until: int | None = None, batch: int = BATCH
) -> AsyncIterator[Mapping[str, Any]]:
    """The entries after ``seq`` (up to ``until``), in order, fetched ``batch`` at a time."""
    while True:
        query = select(audit_log).where(audit_log.c.seq > seq)
        if until is not None:
            query = query.where(audit_log.c.seq <= until)
        rows = (await conn.execute(query.order_by(audit_log.c.seq).limit(batch))).all()
        for row in rows:
            yield dict(row._mapping)
        if len(rows) < batch:
            return
        seq = rows[-1].seq


async def signed_checkpoints(
    conn: AsyncConnection, signer: TokenSigner
) -> tuple[dict[int, str], Break | None]:
    """The checkpoints whose signature holds, by seq, and the first one that is not signed by ``signer``
    (or whose signed seq and hash are not the ones stored beside it)."""
    found: dict[int, str] = {}
    rows = (await conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq))).all()
    for row in rows:
        payload = signer.open_document(row.signature)
        if payload is None or payload.get("seq") != row.seq or payload.get("hash") != row.hash:
            return found, Break(row.seq, f"checkpoint at {row.seq} is not signed by this service")
        found[int(row.seq)] = str(row.hash)
    return found, None


async def verify_chain(conn: AsyncConnection, signer: TokenSigner) -> AuditVerification:
    """Walk the whole log in ``seq`` order (a batch at a time) and report the first break, if any."""
    checkpoints, forged = await signed_checkpoints(conn, signer)
    walk = ChainWalk(checkpoints=checkpoints)
    first: int | None = None
    found: Break | None = None
    async for entry in entries_after(conn, 0):
        first = int(entry["seq"]) if first is None else first
        found = walk.step(entry)
        if found is not None:
            break
    if found is None:
        found = await _check_end(conn, walk, checkpoints)
    if forged is not None and (found is None or forged.seq <= found.seq):
        found = forged
    return AuditVerification(
        ok=found is None,
        entries=walk.checked,
        checkpoints=len(checkpoints),
        first_seq=first,
        last_seq=walk.after or None,
        broken_seq=found.seq if found else None,
        problem=found.problem if found else None,
    )


async def _check_end(conn: AsyncConnection, walk: ChainWalk, checkpoints: Mapping[int, str]) -> Break | None:
    head = (await conn.execute(select(audit_head).where(audit_head.c.id == AUDIT_HEAD_ID))).one()
    end = walk.after
    ends = f"ends at {end}" if end else "is empty"
    if head.seq != end:
        return Break(min(head.seq, end + 1), f"the head says {head.seq} entries but the log {ends}")
    if head.hash != walk.last_hash:
        return Break(end, f"the head does not match entry {end}, the last one")
    beyond = [seq for seq in checkpoints if seq > end]
    if beyond:
        return Break(
            end + 1,
            f"the signed checkpoint at {min(beyond)} is past the end of the log: entries after {end} "
            "were removed",
        )
    return None


async def verify_catalog(settings: ServerSettings) -> AuditVerification:
    """:func:`verify_chain` on the catalog and with the signing key of ``settings``, without a running
    service (an operator's check when the service is down)."""
    signer = TokenSigner.from_settings(settings)
    engine = make_engine(settings.resolved_database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await verify_chain(conn, signer)
    finally:
        await engine.dispose()
