"""Which document versions a read sees: the session's own writes over the commit chain below its base.

Commits are immutable and have one parent, so the chain below a commit never changes: it is cached per
process (bounded by the number of entries held), and a new commit whose parent's chain is cached costs one
indexed row to resolve.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import v1_commits, v1_sessions
from arraylake.server.errors import InvalidInput, NotFound
from arraylake.types.v1 import READ_SESSION_PREFIX, is_object_id


@dataclass(frozen=True, slots=True)
class Chain:
    """A commit and its ancestors, newest first, with the sessions that produced them."""

    commits: tuple[str, ...] = ()
    sessions: tuple[int, ...] = ()
    session_ids: dict[int, str] = field(default_factory=dict)
    position: dict[int, int] = field(default_factory=dict)  # session seq -> its newest place in the chain

    @staticmethod
    def of(links: Iterable[tuple[str, int, str]]) -> Chain:
        """The chain of ``(commit id, session seq, session id)`` links, newest first."""
        commits: list[str] = []
        sessions: list[int] = []
        session_ids: dict[int, str] = {}
        position: dict[int, int] = {}
        for commit_id, session_seq, session_id in links:
            position.setdefault(session_seq, len(commits))
            commits.append(commit_id)
            sessions.append(session_seq)
            session_ids[session_seq] = session_id
        return Chain(tuple(commits), tuple(sessions), session_ids, position)

    def extend(self, commit_id: str, session_seq: int, session_id: str) -> Chain:
        """This chain with ``commit_id`` on top."""
        position = {seq: index + 1 for seq, index in self.position.items()}
        position[session_seq] = 0
        return Chain(
            (commit_id, *self.commits),
            (session_seq, *self.sessions),
            {**self.session_ids, session_seq: session_id},
            position,
        )

    def since(self, ancestor: str | None) -> tuple[int, ...] | None:
        """The sessions of the commits above ``ancestor`` (all of them for ``None``); ``None`` when
        ``ancestor`` is not in the chain."""
        if ancestor is None:
            return self.sessions
        try:
            return self.sessions[: self.commits.index(ancestor)]
        except ValueError:
            return None


EMPTY_CHAIN = Chain()


class ChainCache:
    """Least recently used chains, up to ``budget`` commits in all."""

    def __init__(self, budget: int = 500_000):
        self.budget = budget
        self._held = 0
        self._chains: OrderedDict[tuple[str, str], Chain] = OrderedDict()

    def get(self, repo_id: str, commit_id: str) -> Chain | None:
        chain = self._chains.get((repo_id, commit_id))
        if chain is not None:
            self._chains.move_to_end((repo_id, commit_id))
        return chain

    def put(self, repo_id: str, commit_id: str, chain: Chain) -> None:
        if (repo_id, commit_id) in self._chains or len(chain.commits) > self.budget:
            return
        self._chains[(repo_id, commit_id)] = chain
        self._held += len(chain.commits)
        while self._held > self.budget:
            _, dropped = self._chains.popitem(last=False)
            self._held -= len(dropped.commits)

    def clear(self) -> None:
        self._chains.clear()
        self._held = 0


chains = ChainCache()


def check_commit_id(commit_id: str) -> str:
    if not is_object_id(commit_id):
        raise InvalidInput(f"{commit_id[:64]!r} is not a commit id (24 lower-case hex digits)")
    return commit_id


async def commit_chain(conn: AsyncConnection, repo_id: str, commit_id: str | None) -> Chain:
    """The chain below ``commit_id`` (empty for ``None``); 422 if the repo has no such commit."""
    if commit_id is None:
        return EMPTY_CHAIN
    check_commit_id(commit_id)
    cached = chains.get(repo_id, commit_id)
    if cached is not None:
        return cached
    top = (
        await conn.execute(
            select(v1_commits.c.parent_commit, v1_commits.c.session_seq, v1_sessions.c.id)
            .join(v1_sessions, v1_sessions.c.seq == v1_commits.c.session_seq)
            .where(v1_commits.c.repo_id == repo_id, v1_commits.c.id == commit_id)
        )
    ).first()
    if top is None:
        raise InvalidInput(f"commit {commit_id} does not exist in this repo")
    below = EMPTY_CHAIN if top.parent_commit is None else chains.get(repo_id, top.parent_commit)
    if below is not None:
        chain = below.extend(commit_id, top.session_seq, top.id)
    else:
        chain = await _load_chain(conn, repo_id, commit_id)
    chains.put(repo_id, commit_id, chain)
    return chain


async def _load_chain(conn: AsyncConnection, repo_id: str, commit_id: str) -> Chain:
    c = v1_commits.c
    start = (
        select(c.id, c.parent_commit, c.session_seq, literal(0).label("depth"))
        .where(c.repo_id == repo_id, c.id == commit_id)
        .cte("chain", recursive=True)
    )
    walk = start.union_all(
        select(c.id, c.parent_commit, c.session_seq, start.c.depth + 1).where(
            c.repo_id == repo_id, c.id == start.c.parent_commit
        )
    )
    rows = (
        await conn.execute(
            select(walk.c.id, walk.c.session_seq, v1_sessions.c.id.label("session_id"))
            .join(v1_sessions, v1_sessions.c.seq == walk.c.session_seq)
            .order_by(walk.c.depth)
        )
    ).all()
    return Chain.of((row.id, row.session_seq, row.session_id) for row in rows)


@dataclass(frozen=True, slots=True)
class View:
    """What a read sees: the writes of session ``own`` (if any) over ``chain``."""

    chain: Chain
    own: int | None = None
    own_id: str | None = None

    def rank(self, session_seq: int) -> int | None:
        """Lower wins; ``None``: invisible in this view."""
        if session_seq == self.own:
            return -1
        return self.chain.position.get(session_seq)

    def session_id(self, session_seq: int) -> str:
        if session_seq == self.own and self.own_id is not None:
            return self.own_id
        return self.chain.session_ids[session_seq]

    def winner(self, versions: Iterable[tuple[int, bool]]) -> int | None:
        """The session whose version of a path this view sees, given ``(session seq, deleted)`` of each
        version; ``None`` if the view sees no version, or a deletion."""
        best: tuple[int, int, bool] | None = None
        for session_seq, deleted in versions:
            rank = self.rank(session_seq)
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, session_seq, deleted)
        return None if best is None or best[2] else best[1]


async def read_view(
    conn: AsyncConnection, repo_id: str, session_id: str | None, base_commit: str | None
) -> View:
    """The view of a read at ``(session_id, base_commit)``.

    ``read-<hex>`` (and ``read-None``) name no session: the view of that commit (or of the empty repo)
    alone; ``base_commit``, if given, wins over the hex.
    """
    if session_id is None or session_id.startswith(READ_SESSION_PREFIX):
        named = (session_id or "read-None")[len(READ_SESSION_PREFIX) :]
        if base_commit is None and named != "None":
            base_commit = check_commit_id(named)
        return View(await commit_chain(conn, repo_id, base_commit))
    own = (
        await conn.execute(
            select(v1_sessions.c.seq).where(v1_sessions.c.repo_id == repo_id, v1_sessions.c.id == session_id)
        )
    ).scalar_one_or_none()
    if own is None:
        raise NotFound(f"session {session_id[:64]!r} does not exist in this repo")
    return View(await commit_chain(conn, repo_id, base_commit), own, session_id)
