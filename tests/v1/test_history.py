"""Sessions, commits, branches, tags and rebase on SQLite and PostgreSQL: overlay reads, compare-and-swap
races, conflicts, orphaned retries, and sessions that refuse writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server.db.schema import v1_sessions
from arraylake.server.errors import Conflict, InvalidInput, NotFound
from arraylake.server.v1 import history, sessions
from arraylake.types import utcnow
from arraylake.types.v1 import NewTag, SessionExpirationUpdate
from tests.v1.support import CHUNKS, META, V1, ref

GROUP = "meta/root.group.json"
ARR = "meta/root/x.array.json"


@pytest.fixture
def v1(engine: AsyncEngine, repo: str) -> V1:
    return V1(engine, repo)


async def test_reads_overlay_the_session_on_its_base_history(v1: V1) -> None:
    a = await v1.session()
    await v1.set(a, META, {GROUP: {"attributes": {"v": 1}}, ARR: {"shape": [4]}})
    await v1.set(a, CHUNKS, {"data/root/x/c0": ref(10, a), "data/root/x/c1": ref(20, a)})
    c1 = await v1.land(a, None)
    assert await v1.tip() == c1

    b = await v1.session(base=c1)
    await v1.set(b, META, {GROUP: {"attributes": {"v": 2}}})
    assert await v1.delete(b, c1, CHUNKS, ["data/root/x/c1", "data/root/x/never"]) == 1
    # the session sees its own writes and deletions over c1
    assert await v1.get(b, c1, META, [GROUP, ARR]) == {GROUP: {"attributes": {"v": 2}}, ARR: {"shape": [4]}}
    assert list(await v1.get(b, c1, CHUNKS, ["data/root/x/c0", "data/root/x/c1"])) == ["data/root/x/c0"]
    # nobody else does: a read view of c1, another session, the empty repo
    assert await v1.get(f"read-{c1}", c1, META, [GROUP]) == {GROUP: {"attributes": {"v": 1}}}
    assert await v1.get(f"read-{c1}", None, META, [GROUP]) == {GROUP: {"attributes": {"v": 1}}}
    other = await v1.session(base=c1)
    assert len(await v1.get(other, c1, CHUNKS, ["data/root/x/c1"])) == 1
    assert await v1.get("read-None", None, META, [GROUP, ARR]) == {}

    c2 = await v1.land(b, c1)
    assert (await v1.get(f"read-{c2}", c2, META, [GROUP]))[GROUP] == {"attributes": {"v": 2}}
    assert await v1.get(f"read-{c2}", c2, CHUNKS, ["data/root/x/c1"]) == {}
    assert (await v1.get(f"read-{c1}", c1, CHUNKS, ["data/root/x/c1"])) != {}  # history is immutable
    async with v1.engine.connect() as conn:
        log = await history.list_commits(conn, v1.repo_id)
        assert [c.id for c in log] == [c2, c1]
        assert log[0].parent_commit == c1
        page = await history.list_commits(conn, v1.repo_id, limit=1, last_seen_commit=c2)
        assert [c.id for c in page] == [c1]


async def test_disjoint_sessions_both_land_after_a_rebase_and_the_retry_leaves_an_orphan(v1: V1) -> None:
    s0 = await v1.session()
    await v1.set(s0, META, {GROUP: {"attributes": {}}})
    c0 = await v1.land(s0, None)
    a, b = await v1.session(base=c0), await v1.session(base=c0)
    await v1.set(a, CHUNKS, {"data/root/a/c0": ref(1, a)})
    await v1.set(b, CHUNKS, {"data/root/b/c0": ref(2, b)})
    ca = await v1.land(a, c0)

    orphan = await v1.commit(b, c0)
    with pytest.raises(InvalidInput, match=r"^Failed to update branch") as lost:
        await v1.move(orphan, c0, sid=b)
    assert lost.value.status_code == 422
    assert await v1.tip() == ca
    assert await v1.rebase(b, base=c0) == ca
    cb = await v1.land(b, ca)

    assert await v1.tip() == cb
    both = await v1.get(f"read-{cb}", cb, CHUNKS, ["data/root/a/c0", "data/root/b/c0"])
    assert set(both) == {"data/root/a/c0", "data/root/b/c0"}
    async with v1.engine.connect() as conn:
        ids = [c.id for c in await history.list_commits(conn, v1.repo_id)]
        assert orphan in ids and cb in ids
        assert (await history.get_commit(conn, v1.repo_id, orphan)).parent_commit == c0
    # the orphan is not in the branch's history; a branch never moves to a commit whose parent isn't its tip
    with pytest.raises(InvalidInput, match=r"^Failed to update branch"):
        await v1.move(orphan, cb)


async def test_same_path_in_two_sessions_conflicts(v1: V1) -> None:
    a, b = await v1.session(), await v1.session()
    await v1.set(a, META, {GROUP: {"attributes": {"by": "a"}}})
    await v1.set(b, META, {GROUP: {"attributes": {"by": "b"}}, ARR: {}})
    ca = await v1.land(a, None)
    with pytest.raises(InvalidInput, match=r"^Cannot create branch main"):
        await v1.land(b, None)
    with pytest.raises(InvalidInput, match=rf"^Conflicting changes.*{GROUP}") as conflict:
        await v1.rebase(b)
    assert conflict.value.status_code == 422
    with pytest.raises(InvalidInput, match=r"^Conflicting changes"):
        await v1.commit(b, ca)  # a client that skips the rebase is refused too
    assert (await v1.get(f"read-{ca}", ca, META, [GROUP]))[GROUP] == {"attributes": {"by": "a"}}


async def test_a_later_write_into_a_rebased_session_is_checked_again(v1: V1) -> None:
    a, b = await v1.session(), await v1.session()
    await v1.set(a, META, {GROUP: {"attributes": {}}})
    await v1.set(b, META, {ARR: {}})
    ca = await v1.land(a, None)
    await v1.rebase(b)
    await v1.set(b, META, {GROUP: {"attributes": {"late": True}}})  # e.g. another worker of the session
    with pytest.raises(InvalidInput, match=r"^Conflicting changes"):
        await v1.commit(b, ca)


async def test_sessions_refuse_writes_once_landed_abandoned_or_expired(v1: V1) -> None:
    landed, gone, old, empty = [await v1.session() for _ in range(4)]
    await v1.set(landed, META, {GROUP: {"attributes": {}}})
    c1 = await v1.land(landed, None)
    with pytest.raises(InvalidInput, match="committed as"):
        await v1.set(landed, META, {ARR: {}})
    with pytest.raises(InvalidInput, match=r"^No changes to commit"):
        await v1.commit(landed, c1)

    await v1.set(gone, META, {ARR: {"a": 1}})
    async with v1.engine.begin() as conn:
        info = await sessions.abandon_session(conn, v1.repo_id, gone)
    assert info.expiration <= utcnow()
    with pytest.raises(InvalidInput, match="abandoned"):
        await v1.set(gone, META, {ARR: {}})
    assert await v1.get(gone, None, META, [ARR]) == {}  # its writes are discarded

    async with v1.engine.begin() as conn:
        await conn.execute(
            update(v1_sessions)
            .where(v1_sessions.c.id == old)
            .values(expiration=utcnow() - timedelta(seconds=1))
        )
    with pytest.raises(InvalidInput, match="expired"):
        await v1.set(old, META, {ARR: {}})
    async with v1.engine.begin() as conn:
        with pytest.raises(InvalidInput, match="expired"):
            await sessions.update_expiration(
                conn, v1.repo_id, old, SessionExpirationUpdate(session_id=old, expires_in=timedelta(hours=1))
            )

    with pytest.raises(InvalidInput, match=r"^No changes to commit") as nothing:
        await v1.commit(empty, c1)
    assert nothing.value.status_code == 422
    with pytest.raises(InvalidInput, match="read session"):
        await v1.set(f"read-{c1}", META, {ARR: {}})
    with pytest.raises(NotFound):
        await v1.set("no-such-session", META, {ARR: {}})

    async with v1.engine.connect() as conn:
        active = {s.id for s in await sessions.list_active_sessions(conn, v1.repo_id)}
    assert empty in active and not active & {landed, gone, old}


async def test_session_lifetimes(v1: V1) -> None:
    sid = await v1.session(expires_in=timedelta(hours=2))
    async with v1.engine.begin() as conn:
        info = await sessions.get_session(conn, v1.repo_id, sid)
        assert info.expiration - info.start_time == timedelta(hours=2)
        longer = await sessions.update_expiration(
            conn, v1.repo_id, sid, SessionExpirationUpdate(session_id=sid, expires_in=timedelta(days=3))
        )
        assert longer.expiration - utcnow() > timedelta(days=2, hours=23)
    with pytest.raises(ValueError, match="at most 7 days"):
        await v1.session(expires_in=timedelta(days=8))
    with pytest.raises(ValueError, match="branch or a base_commit"):
        await v1.session(branch=None)
    with pytest.raises(InvalidInput, match="does not exist"):
        await v1.session(base="0" * 24)


async def test_branches_and_tags(v1: V1) -> None:
    s = await v1.session()
    await v1.set(s, META, {GROUP: {"attributes": {}}})
    c1 = await v1.land(s, None)
    s2 = await v1.session(base=c1)
    await v1.set(s2, META, {ARR: {}})
    dev = await v1.commit(s2, c1)
    await v1.move(dev, None, "dev", new_branch=True, sid=s2)
    with pytest.raises(InvalidInput, match="committed as"):
        await v1.set(s2, META, {ARR: {"late": 1}})  # a branch points at its commit now
    async with v1.engine.begin() as conn:
        assert [(b.id, b.commit_id) for b in await history.list_branches(conn, v1.repo_id)] == [
            ("dev", dev),
            ("main", c1),
        ]
        assert [b.id for b in await history.list_branches(conn, v1.repo_id, ["dev", "x"])] == ["dev"]
        tag = await history.create_tag(
            conn, v1.repo_id, NewTag(label="v1", commit_id=c1, author_email="a@b.c")
        )
        wire = tag.model_dump(mode="json", by_alias=True)
        assert wire["_id"] == "v1" and wire["commit_id"] == c1 and wire["commit"]["_id"] == c1
    async with v1.engine.begin() as conn:
        with pytest.raises(Conflict, match="immutable"):
            await history.create_tag(
                conn, v1.repo_id, NewTag(label="v1", commit_id=dev, author_email="a@b.c")
            )
    async with v1.engine.begin() as conn:
        assert [t.commit.id for t in await history.list_tags(conn, v1.repo_id)] == [c1]
        await history.delete_branch(conn, v1.repo_id, "dev")
        await history.delete_tag(conn, v1.repo_id, "v1")
        assert await history.list_tags(conn, v1.repo_id) == []
        with pytest.raises(InvalidInput, match=r"^Branch does not exist"):
            await history.delete_branch(conn, v1.repo_id, "dev")
        with pytest.raises(InvalidInput, match="main branch cannot be deleted"):
            await history.delete_branch(conn, v1.repo_id, "main")
        with pytest.raises(NotFound):
            await history.delete_tag(conn, v1.repo_id, "v1")
    with pytest.raises(InvalidInput, match=r"^Branch does not exist"):
        await v1.rebase(s2, "dev")
    with pytest.raises(InvalidInput, match="not a commit id"):
        await v1.get("read-None", "XYZ", META, [GROUP])
    with pytest.raises(InvalidInput, match="was not made by session"):
        await v1.move(dev, c1, sid=s)


async def test_concurrent_commits_on_one_branch_never_lose_one(v1: V1) -> None:
    """Many writers race for main with the client's retry loop; every one lands exactly once."""
    import asyncio

    async def writer(i: int) -> None:
        sid = await v1.session()
        await v1.set(sid, CHUNKS, {f"data/root/w{i}/c0": ref(i, sid)})
        base = await v1.tip()
        for _ in range(50):
            commit = await v1.commit(sid, base)
            try:
                await v1.move(commit, base, new_branch=base is None, sid=sid)
                return
            except InvalidInput as e:
                assert str(e.detail).startswith(("Failed to update branch", "Cannot create branch"))
            base = await v1.rebase(sid, base=base)
        raise AssertionError("never landed")

    await asyncio.gather(*(writer(i) for i in range(6)))
    tip = await v1.tip()
    paths = [f"data/root/w{i}/c0" for i in range(6)]
    assert set(await v1.get(f"read-{tip}", tip, CHUNKS, paths)) == set(paths)
