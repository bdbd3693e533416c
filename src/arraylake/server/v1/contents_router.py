"""V1 repos' documents over HTTP: bulk writes and reads, listings, prefix deletes, sizes, the node tree,
renames, and which sessions touched a document."""

from __future__ import annotations

from fastapi import APIRouter, Body, Path, Query, Response

from arraylake.server.v1 import documents, keys, listing, nodes
from arraylake.server.v1.calls import ReadAt, V1Reader, V1Writer, WriteAt, json_list, null, wire_list
from arraylake.server.v1.views import read_view
from arraylake.server.wire import wire_json
from arraylake.types.v1 import (
    BulkCreateDocBody,
    Changed,
    DocResponse,
    DocSessionsResponse,
    PathSizeResponse,
    Tree,
)

router = APIRouter(tags=["v1 documents"])
CONTENTS = "/repos/{org}/{repo}/contents/{collection}"

COLLECTION = Path(max_length=32, description="metadata or chunks")
PATHS = Body(description="Document paths")
PREFIX = Query(default="", max_length=keys.MAX_PATH_LENGTH, description="A key prefix (empty: everything)")
FILTER = Query(default=None, max_length=4096, description="A JMESPath expression over document content")


@router.put(CONTENTS + "/_bulk_set", response_model=Changed)
async def bulk_set(
    call: V1Writer, at: WriteAt, docs: list[BulkCreateDocBody], collection: str = COLLECTION
) -> Changed:
    """Write documents in the session; of two writes of one path, the last wins."""
    coll = keys.collection(collection)
    async with call.ctx.engine.begin() as conn:
        await documents.bulk_set(conn, call.repo_id, coll, at.session_id, docs)
    return Changed(count=len({doc.path for doc in docs}))


@router.put(CONTENTS + "/_bulk_delete", response_model=Changed)
async def bulk_delete(
    call: V1Writer, at: WriteAt, paths: list[str] = PATHS, collection: str = COLLECTION
) -> Changed:
    """Delete documents in the session; paths it does not see are ignored (``count``: those deleted)."""
    coll = keys.collection(collection)
    async with call.ctx.engine.begin() as conn:
        count = await documents.bulk_delete(conn, call.repo_id, coll, at.session_id, at.base_commit, paths)
    return Changed(count=count)


@router.post(CONTENTS + "/_bulk_get", response_model=list[DocResponse])
async def bulk_get(
    call: V1Reader, at: ReadAt, paths: list[str] = PATHS, collection: str = COLLECTION
) -> Response:
    """The documents at ``paths`` as the session sees them; missing and deleted ones are left out."""
    coll = keys.collection(collection)
    async with call.ctx.reader.connect() as conn:
        view = await read_view(conn, call.repo_id, at.session_id, at.base_commit)
        return wire_list(await documents.bulk_get(conn, call.repo_id, coll, view, paths))


@router.get(CONTENTS + "/", response_model=list[str])
async def list_paths(
    call: V1Reader,
    at: ReadAt,
    collection: str = COLLECTION,
    prefix: str = PREFIX,
    all_subdirs: bool = Query(default=False, description="Every document under the prefix, at any depth"),
    filter: str | None = FILTER,
) -> Response:
    """The paths under ``prefix``: a directory's documents and sub-directories, or (``all_subdirs``)
    every document below it; a ``filter`` keeps the documents it is true for, and no directories."""
    coll = keys.collection(collection)
    async with call.ctx.reader.connect() as conn:
        view = await read_view(conn, call.repo_id, at.session_id, at.base_commit)
        found = await listing.list_paths(
            conn, call.repo_id, coll, view, prefix, all_subdirs=all_subdirs, filter=null(filter)
        )
    return json_list(found)


@router.put("/repos/{org}/{repo}/contents/nodes/rename", response_model=Changed)
async def rename(
    call: V1Writer,
    at: WriteAt,
    src_path: str = Query(min_length=1, max_length=keys.MAX_PATH_LENGTH, description="The group or array"),
    dst_path: str = Query(min_length=1, max_length=keys.MAX_PATH_LENGTH, description="Its new path (free)"),
) -> Changed:
    """Move a group or array, with everything under it, to a path that does not exist yet."""
    async with call.ctx.engine.begin() as conn:
        moved = await nodes.rename_node(conn, call.repo_id, at.session_id, at.base_commit, src_path, dst_path)
    return Changed(count=moved)


@router.delete(CONTENTS + "/{prefix:path}", response_model=Changed)
async def delete_prefix(
    call: V1Writer,
    at: WriteAt,
    collection: str = COLLECTION,
    prefix: str = Path(max_length=keys.MAX_PATH_LENGTH, description="Every document under it goes"),
) -> Changed:
    """Delete, in the session, every document under ``prefix`` it sees."""
    coll = keys.collection(collection)
    async with call.ctx.engine.begin() as conn:
        count = await listing.delete_prefix(conn, call.repo_id, coll, at.session_id, at.base_commit, prefix)
    return Changed(count=count)


@router.get("/repos/{org}/{repo}/size/", response_model=PathSizeResponse)
async def size(call: V1Reader, at: ReadAt, prefix: str = PREFIX) -> Response:
    """How many chunks the session sees under ``prefix``, and their bytes."""
    async with call.ctx.reader.connect() as conn:
        view = await read_view(conn, call.repo_id, at.session_id, at.base_commit)
        return wire_json(await listing.prefix_size(conn, call.repo_id, view, prefix))


@router.get("/repos/{org}/{repo}/tree", response_model=Tree)
async def tree(
    call: V1Reader,
    at: ReadAt,
    prefix: str = PREFIX,
    depth: int = Query(default=10, ge=0, le=1000, description="Levels below the group"),
    filter: str | None = FILTER,
) -> Response:
    """The groups and arrays under group ``prefix``; a ``filter`` keeps the nodes it is true for."""
    async with call.ctx.reader.connect() as conn:
        view = await read_view(conn, call.repo_id, at.session_id, at.base_commit)
        return wire_json(await nodes.tree(conn, call.repo_id, view, prefix, depth=depth, filter=null(filter)))


@router.get("/repos/{org}/{repo}/sessions/{collection}/{path:path}", response_model=list[DocSessionsResponse])
async def doc_sessions(
    call: V1Reader,
    collection: str = COLLECTION,
    path: str = Path(max_length=keys.MAX_PATH_LENGTH, description="A document path"),
) -> Response:
    """Every session that wrote or deleted the document, oldest first."""
    coll = keys.collection(collection)
    async with call.ctx.reader.connect() as conn:
        return wire_list(await documents.doc_sessions(conn, call.repo_id, coll, path))
