"""Commits, branches, tags and rebase: the version history of a V1 repo.

History is a chain: a commit has one parent. A branch moves only by compare-and-swap from its tip to a
child of that tip, so no landed commit is ever dropped; a session's commits are checked, path by path,
against everything that landed since the session's base (the client's rebase asks the same question
first). The detail prefixes ``No changes to commit``, ``Failed to update branch``, ``Cannot create
branch`` and ``Branch does not exist`` come with 422: seed-era clients match on them.
"""

from __future__ import annotations

from sqlalchemy import and_, delete, exists, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import v1_branches, v1_commits, v1_documents, v1_sessions, v1_tags
from arraylake.server.errors import Conflict, InvalidInput, NotFound
from arraylake.server.v1.keys import Collection
from arraylake.server.v1.sessions import session_row, writable_session
from arraylake.server.v1.sql import insert_on_conflict
from arraylake.server.v1.views import check_commit_id, commit_chain
from arraylake.types import utcnow
from arraylake.types.v1 import (
    READ_SESSION_PREFIX,
    Branch,
    Commit,
    NewCommit,
    NewTag,
    Tag,
    UpdateBranchBody,
    new_object_id,
)

c = v1_commits.c
MAIN = "main"
MAX_CONFLICTS_SHOWN = 10


def _commit(row: Row) -> Commit:
    return Commit(
        _id=row.id,
        session_start_time=row.session_start_time,
        parent_commit=row.parent_commit,
        commit_time=row.commit_time,
        author_name=row.author_name,
        author_email=row.author_email,
        message=row.message,
    )


async def _commit_row(conn: AsyncConnection, repo_id: str, commit_id: str) -> Row:
    check_commit_id(commit_id)
    row = (await conn.execute(select(v1_commits).where(c.repo_id == repo_id, c.id == commit_id))).first()
    if row is None:
        raise NotFound(f"commit {commit_id} does not exist in this repo")
    return row


async def get_commit(conn: AsyncConnection, repo_id: str, commit_id: str) -> Commit:
    return _commit(await _commit_row(conn, repo_id, commit_id))


async def list_commits(
    conn: AsyncConnection, repo_id: str, *, limit: int = 0, last_seen_commit: str | None = None
) -> list[Commit]:
    """The repo's commits, newest first; ``limit`` 0 means all, ``last_seen_commit`` pages on."""
    if limit < 0:
        raise InvalidInput("limit must be 0 (all) or more")
    query = select(v1_commits).where(c.repo_id == repo_id).order_by(c.seq.desc())
    if last_seen_commit is not None:
        query = query.where(c.seq < (await _commit_row(conn, repo_id, last_seen_commit)).seq)
    if limit:
        query = query.limit(limit)
    return [_commit(row) for row in await conn.execute(query)]


async def conflicting_paths(
    conn: AsyncConnection, repo_id: str, session_seq: int, others: tuple[int, ...]
) -> list[str]:
    """Paths of metadata or chunks that session ``session_seq`` and any of ``others`` both wrote."""
    others_set = set(others) - {session_seq}
    if not others_set:
        return []
    mine, theirs = v1_documents.alias("mine"), v1_documents.alias("theirs")
    join = mine.join(
        theirs,
        and_(
            theirs.c.repo_id == repo_id,
            theirs.c.collection == mine.c.collection,
            theirs.c.path == mine.c.path,
        ),
    )
    query = (
        select(mine.c.path)
        .select_from(join)
        .where(
            mine.c.session_seq == session_seq,
            mine.c.collection.in_([Collection.metadata, Collection.chunks]),
            theirs.c.session_seq.in_(others_set),
        )
        .distinct()
        .order_by(mine.c.path)
        .limit(MAX_CONFLICTS_SHOWN)
    )
    return list((await conn.execute(query)).scalars())


async def _check_no_conflicts(
    conn: AsyncConnection, repo_id: str, session: Row, onto: str | None, onto_name: str
) -> None:
    """422 unless ``onto`` descends from the session's base and nothing landed since wrote its paths."""
    if onto == session.base_commit:
        return
    chain = await commit_chain(conn, repo_id, onto)
    since = chain.since(session.base_commit)
    if since is None:
        raise InvalidInput(
            f"{onto_name} does not descend from the base commit {session.base_commit} of session {session.id}"
        )
    paths = await conflicting_paths(conn, repo_id, session.seq, since)
    if paths:
        shown = ", ".join(paths)
        raise InvalidInput(
            f"Conflicting changes: session {session.id} and commits since its base commit "
            f"{session.base_commit} both modified: {shown}"
        )


async def create_commit(conn: AsyncConnection, repo_id: str, new: NewCommit) -> str:
    """Make a commit of the session's writes on ``new.parent_commit``; the commit's id."""
    try:
        session_seq = await writable_session(conn, repo_id, new.session_id)
    except InvalidInput:
        landed = (await session_row(conn, repo_id, new.session_id)).landed_commit
        if landed is not None:
            raise InvalidInput(
                f"No changes to commit: session {new.session_id} was committed as {landed} already"
            ) from None
        raise
    session = await session_row(conn, repo_id, new.session_id)
    wrote = exists().where(v1_documents.c.session_seq == session_seq)
    if not (await conn.execute(select(wrote))).scalar():
        raise InvalidInput(f"No changes to commit: session {new.session_id} wrote nothing")
    await _check_no_conflicts(conn, repo_id, session, new.parent_commit, f"parent commit {new.parent_commit}")
    commit_id = new_object_id()
    await conn.execute(
        insert(v1_commits).values(
            id=commit_id,
            repo_id=repo_id,
            session_seq=session_seq,
            parent_commit=new.parent_commit,
            session_start_time=session.start_time,
            commit_time=utcnow(),
            author_name=new.author_name,
            author_email=new.author_email,
            message=new.message,
        )
    )
    return commit_id


async def _freeze_session(conn: AsyncConnection, session_seq: int, commit_id: str) -> None:
    """Mark the session of a commit a ref points at: it takes no more writes, so the commit stays as is."""
    s = v1_sessions.c
    await conn.execute(
        update(v1_sessions)
        .where(s.seq == session_seq)
        .values(landed_commit=func.coalesce(s.landed_commit, commit_id))
    )


async def update_branch(conn: AsyncConnection, repo_id: str, change: UpdateBranchBody) -> None:
    """Create ``change.branch`` at ``change.new_commit``, or move it there from ``change.base_commit``."""
    name = change.branch
    commit = await _commit_row(conn, repo_id, change.new_commit)
    if change.session_id is not None:
        session_id = (
            await conn.execute(select(v1_sessions.c.id).where(v1_sessions.c.seq == commit.session_seq))
        ).scalar_one()
        if session_id != change.session_id:
            raise InvalidInput(f"commit {commit.id} was not made by session {change.session_id}")
    # First write of the transaction: holds the session until the branch has moved (see writable_session).
    await _freeze_session(conn, commit.session_seq, commit.id)
    b = v1_branches.c
    if change.new_branch:
        created = await conn.execute(
            insert_on_conflict(conn, v1_branches)
            .values(repo_id=repo_id, name=name, commit_id=commit.id)
            .on_conflict_do_nothing()
        )
        if created.rowcount != 1:
            raise InvalidInput(f"Cannot create branch {name}: it already exists")
        return
    if change.base_commit is None:
        raise InvalidInput(f"Failed to update branch {name}: moving a branch needs its base_commit")
    if commit.parent_commit != change.base_commit:
        raise InvalidInput(
            f"Failed to update branch {name}: commit {commit.id} is not a child of {change.base_commit}"
        )
    moved = await conn.execute(
        update(v1_branches)
        .where(b.repo_id == repo_id, b.name == name, b.commit_id == change.base_commit)
        .values(commit_id=commit.id)
    )
    if moved.rowcount != 1:
        raise InvalidInput(f"Failed to update branch {name}: it does not point at {change.base_commit}")


async def list_branches(conn: AsyncConnection, repo_id: str, names: list[str] | None = None) -> list[Branch]:
    b = v1_branches.c
    query = select(b.name, b.commit_id).where(b.repo_id == repo_id).order_by(b.name)
    if names:
        query = query.where(b.name.in_(names))
    return [Branch(_id=row.name, commit_id=row.commit_id) for row in await conn.execute(query)]


async def branch_tip(conn: AsyncConnection, repo_id: str, name: str) -> str | None:
    b = v1_branches.c
    query = select(b.commit_id).where(b.repo_id == repo_id, b.name == name)
    return (await conn.execute(query)).scalar_one_or_none()


async def delete_branch(conn: AsyncConnection, repo_id: str, name: str) -> None:
    """Delete a branch (its commits stay); ``main`` holds the repo's history and cannot be deleted."""
    if name == MAIN:
        raise InvalidInput("the main branch cannot be deleted")
    b = v1_branches.c
    gone = await conn.execute(delete(v1_branches).where(b.repo_id == repo_id, b.name == name))
    if gone.rowcount != 1:
        raise InvalidInput(f"Branch does not exist: {name}")


async def rebase(
    conn: AsyncConnection, repo_id: str, session_id: str, branch_name: str, base_commit: str | None
) -> str:
    """The tip of ``branch_name`` if the session's writes can go on top of it, else 422 naming the paths
    that commits since the session's base (or since ``base_commit``, if given and later) also wrote."""
    if session_id.startswith(READ_SESSION_PREFIX):
        raise InvalidInput(f"session {session_id[:64]!r} is a read session: there is nothing to rebase")
    tip = await branch_tip(conn, repo_id, branch_name)
    if tip is None:
        raise InvalidInput(f"Branch does not exist: {branch_name}")
    session = await session_row(conn, repo_id, session_id)
    if base_commit is not None:
        await commit_chain(conn, repo_id, base_commit)
    await _check_no_conflicts(conn, repo_id, session, tip, f"the tip {tip} of branch {branch_name}")
    return tip


async def list_tags(conn: AsyncConnection, repo_id: str, names: list[str] | None = None) -> list[Tag]:
    t = v1_tags.c
    query = (
        select(
            v1_commits,
            t.label,
            t.created_at,
            t.message.label("tag_message"),
            t.author_name.label("tag_author_name"),
            t.author_email.label("tag_author_email"),
        )
        .join(v1_commits, c.id == t.commit_id)
        .where(t.repo_id == repo_id)
        .order_by(t.label)
    )
    if names:
        query = query.where(t.label.in_(names))
    rows = await conn.execute(query)
    return [
        Tag(
            label=row.label,
            created_at=row.created_at,
            commit=_commit(row),
            message=row.tag_message,
            author_name=row.tag_author_name,
            author_email=row.tag_author_email,
        )
        for row in rows
    ]


async def create_tag(conn: AsyncConnection, repo_id: str, new: NewTag) -> Tag:
    """Tag a commit; tags never move, so an existing label is a 409."""
    commit = await _commit_row(conn, repo_id, new.commit_id)
    await _freeze_session(conn, commit.session_seq, commit.id)
    created = await conn.execute(
        insert_on_conflict(conn, v1_tags)
        .values(
            repo_id=repo_id,
            label=new.label,
            commit_id=commit.id,
            message=new.message,
            author_name=new.author_name,
            author_email=new.author_email,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    if created.rowcount != 1:
        raise Conflict(f"tag {new.label} already exists: tags are immutable (delete it first)")
    (tag,) = await list_tags(conn, repo_id, [new.label])
    return tag


async def delete_tag(conn: AsyncConnection, repo_id: str, label: str) -> None:
    t = v1_tags.c
    gone = await conn.execute(delete(v1_tags).where(t.repo_id == repo_id, t.label == label))
    if gone.rowcount != 1:
        raise NotFound(f"tag {label} does not exist")
