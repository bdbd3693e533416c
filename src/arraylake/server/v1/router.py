"""V1 repos' history over HTTP: commits, branches, tags, rebase, sessions and what sessions modified."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Response

from arraylake.server import faults
from arraylake.server.v1 import documents, history, sessions
from arraylake.server.v1.calls import ReadAt, V1Reader, V1Writer, null, wire_list
from arraylake.server.wire import wire_json
from arraylake.types.v1 import (
    READ_SESSION_PREFIX,
    Acknowledged,
    Branch,
    Commit,
    CreatedCommit,
    NewCommit,
    NewSession,
    NewTag,
    RebaseResponse,
    SessionExpirationUpdate,
    SessionInfo,
    SessionPathsResponse,
    Tag,
    UpdateBranchBody,
)

router = APIRouter(tags=["v1 history"])
REPO = "/repos/{org}/{repo}"

COMMIT_ID = Path(max_length=64, description="A commit id (24 hex digits)")
SESSION_ID = Path(max_length=64, description="A session id")
NO_SESSION = READ_SESSION_PREFIX + "None"  # a read names no session: it modified nothing
LIMIT = Query(default=0, ge=0, description="At most this many (0: all)")


def _names(names: list[str] | None) -> list[str] | None:
    """Names to filter on; none (or only empty ones) means all."""
    return [name for name in names or [] if name] or None


# ------------------------------------------------------------------------------------------- commits


@router.get(REPO + "/commits", response_model=list[Commit])
async def list_commits(
    call: V1Reader,
    limit: int = LIMIT,
    last_seen_commit: str | None = Query(
        default=None, max_length=64, description="Page on: the commits older than this one"
    ),
) -> Response:
    """The repo's commits, newest first, in pages of ``limit``."""
    async with call.ctx.reader.connect() as conn:
        found = await history.list_commits(
            conn, call.repo_id, limit=limit, last_seen_commit=null(last_seen_commit)
        )
    return wire_list(found)


@router.get(REPO + "/commits/{commit_id}", response_model=Commit)
async def get_commit(call: V1Reader, commit_id: str = COMMIT_ID) -> Response:
    """One commit."""
    async with call.ctx.reader.connect() as conn:
        return wire_json(await history.get_commit(conn, call.repo_id, commit_id))


@router.put(REPO + "/commits", response_model=CreatedCommit, status_code=201)
async def create_commit(new: NewCommit, call: V1Writer) -> Response:
    """Commit the session's writes on ``parent_commit``; 422 ``No changes to commit`` if it wrote nothing.

    The commit is on no branch until ``PUT /branches`` moves one to it."""
    async with call.ctx.engine.begin() as conn:
        commit_id = await history.create_commit(conn, call.repo_id, new)
        faults.crash_point(call.ctx.settings, faults.V1_COMMIT_IN_TRANSACTION)
    # the commit is stored, its branch not yet moved (the client's PUT /branches does that)
    faults.crash_point(call.ctx.settings, faults.V1_COMMIT_BEFORE_BRANCH)
    return wire_json(CreatedCommit(_id=commit_id), status_code=201)


# ---------------------------------------------------------------------------------- branches and tags


@router.get(REPO + "/branches", response_model=list[Branch])
async def list_branches(
    call: V1Reader,
    names: list[str] | None = Query(default=None, description="Only these branches (repeat the key)"),
) -> Response:
    """The repo's branches and their tips, by name."""
    async with call.ctx.reader.connect() as conn:
        return wire_list(await history.list_branches(conn, call.repo_id, _names(names)))


@router.put(REPO + "/branches", response_model=Branch)
async def update_branch(change: UpdateBranchBody, call: V1Writer) -> Response:
    """Create a branch (``new_branch``), or move it from ``base_commit`` to its child ``new_commit``:
    a compare-and-swap. 422 ``Failed to update branch`` when the tip moved meanwhile, ``Cannot create
    branch`` when it exists."""
    async with call.ctx.engine.begin() as conn:
        await history.update_branch(conn, call.repo_id, change)
        faults.crash_point(call.ctx.settings, faults.V1_BRANCH_IN_TRANSACTION)
    return wire_json(Branch(_id=change.branch, commit_id=change.new_commit))


@router.delete(REPO + "/branches", response_model=Acknowledged)
async def delete_branch(
    call: V1Writer, name: str = Query(min_length=1, max_length=256, description="The branch")
) -> Acknowledged:
    """Delete a branch (not ``main``); its commits stay. 422 ``Branch does not exist`` if absent."""
    async with call.ctx.engine.begin() as conn:
        await history.delete_branch(conn, call.repo_id, name)
    return Acknowledged()


@router.get(REPO + "/tags", response_model=list[Tag])
async def list_tags(
    call: V1Reader,
    names: list[str] | None = Query(default=None, description="Only these tags (repeat the key)"),
) -> Response:
    """The repo's tags, each with its commit, by label."""
    async with call.ctx.reader.connect() as conn:
        return wire_list(await history.list_tags(conn, call.repo_id, _names(names)))


@router.put(REPO + "/tags", response_model=Tag, status_code=201)
async def create_tag(new: NewTag, call: V1Writer) -> Response:
    """Tag a commit; tags never move (409 if the label exists)."""
    async with call.ctx.engine.begin() as conn:
        return wire_json(await history.create_tag(conn, call.repo_id, new), status_code=201)


@router.delete(REPO + "/tags", response_model=Acknowledged)
async def delete_tag(
    call: V1Writer, name: str = Query(min_length=1, max_length=256, description="The tag's label")
) -> Acknowledged:
    """Delete a tag; its commit stays."""
    async with call.ctx.engine.begin() as conn:
        await history.delete_tag(conn, call.repo_id, name)
    return Acknowledged()


@router.post(REPO + "/rebase", response_model=RebaseResponse)
async def rebase(
    call: V1Writer,
    session_id: str = Query(min_length=1, max_length=64, description="The write session"),
    branch_name: str = Query(min_length=1, max_length=256, description="The branch to commit to"),
    base_commit: str | None = Query(
        default=None, max_length=64, description="The session's base (empty: none)"
    ),
) -> RebaseResponse:
    """The branch's tip, if the session's writes can go on top of it; 422 naming the paths that commits
    since the session's base also wrote. Changes nothing: the client then commits on the tip."""
    async with call.ctx.reader.connect() as conn:
        tip = await history.rebase(conn, call.repo_id, session_id, branch_name, null(base_commit))
    return RebaseResponse(commit_id=tip)


# ------------------------------------------------------------------------------------------ sessions


@router.get(REPO + "/sessions", response_model=list[SessionInfo])
async def list_sessions(call: V1Reader) -> Response:
    """The sessions that still take writes, oldest first."""
    async with call.ctx.reader.connect() as conn:
        return wire_list(await sessions.list_active_sessions(conn, call.repo_id))


@router.post(REPO + "/sessions", response_model=SessionInfo, status_code=201)
async def create_session(new: NewSession, call: V1Writer) -> Response:
    """A new session on ``branch`` at ``base_commit``, open for ``expires_in`` (at most 7 days)."""
    async with call.ctx.engine.begin() as conn:
        return wire_json(await sessions.create_session(conn, call.repo_id, new), status_code=201)


# Declared before /sessions/{collection}/{path}: a session id is one path segment, a document path more.
@router.get(REPO + "/sessions/{session_id}", response_model=SessionInfo)
async def get_session(call: V1Reader, session_id: str = SESSION_ID) -> Response:
    """One session, open or not."""
    async with call.ctx.reader.connect() as conn:
        return wire_json(await sessions.get_session(conn, call.repo_id, session_id))


@router.put(REPO + "/sessions/{session_id}", response_model=SessionInfo)
async def extend_session(
    change: SessionExpirationUpdate, call: V1Writer, session_id: str = SESSION_ID
) -> Response:
    """Let an open session live ``expires_in`` from now."""
    async with call.ctx.engine.begin() as conn:
        return wire_json(await sessions.update_expiration(conn, call.repo_id, session_id, change))


@router.delete(REPO + "/sessions/{session_id}", response_model=SessionInfo)
async def abandon_session(call: V1Writer, session_id: str = SESSION_ID) -> Response:
    """Expire a session now; its writes are discarded unless a commit was made of them."""
    async with call.ctx.engine.begin() as conn:
        return wire_json(await sessions.abandon_session(conn, call.repo_id, session_id))


# ---------------------------------------------------------------------------- what sessions modified


@router.get(REPO + "/modified_paths/{collection}", response_model=list[SessionPathsResponse])
async def modified_paths(
    call: V1Reader, at: ReadAt, collection: str = Path(max_length=32), limit: int = LIMIT
) -> Response:
    """The paths of ``collection`` the session wrote or deleted, in path order (none for read sessions)."""
    async with call.ctx.reader.connect() as conn:
        found = await documents.modified_paths(
            conn, call.repo_id, collection, at.session_id or NO_SESSION, limit
        )
    return wire_list(found)


@router.get(REPO + "/modified_paths_commit/{collection}", response_model=list[SessionPathsResponse])
async def modified_paths_commit(
    call: V1Reader,
    collection: str = Path(max_length=32),
    commit_id: str = Query(max_length=64, description="The commit"),
    limit: int = LIMIT,
) -> Response:
    """The paths of ``collection`` that the session of ``commit_id`` wrote or deleted."""
    async with call.ctx.reader.connect() as conn:
        found = await documents.modified_paths_commit(conn, call.repo_id, collection, commit_id, limit)
    return wire_list(found)
