"""Groups and arrays as a tree: the node tree under a group, and renaming a node with everything under it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.errors import InvalidInput
from arraylake.server.v1.documents import contents, upsert
from arraylake.server.v1.keys import Collection, check_path
from arraylake.server.v1.listing import BATCH, compile_filter, matching, visible
from arraylake.server.v1.sessions import writable_session
from arraylake.server.v1.views import View, commit_chain
from arraylake.types.v1 import Tree

GROUP, ARRAY = ".group.json", ".array.json"
ROOT = "meta/root"


def node_path(path: str) -> str:
    """A node's path relative to the root group: ``a/b`` from ``a/b``, ``/a/b/`` or ``meta/root/a/b``."""
    for lead in ("meta/root/", "meta/root", "meta/"):
        if path.startswith(lead):
            path = path[len(lead) :]
            break
    path = path.strip("/")
    if any(part in ("", ".", "..") for part in path.split("/")) and path:
        raise InvalidInput(f"{path[:200]!r} is not a node path")
    return path


def _meta_dir(node: str) -> str:
    return f"{ROOT}/{node}/" if node else f"{ROOT}/"


async def tree(
    conn: AsyncConnection,
    repo_id: str,
    view: View,
    prefix: str = "",
    *,
    depth: int = 10,
    filter: str | None = None,
) -> Tree:
    """The groups and arrays under group ``prefix``, ``depth`` levels deep (its children are level 1).

    A ``filter`` (JMESPath over node documents) keeps the nodes it is true for, and the groups on the
    way to them.
    """
    if depth < 0:
        raise InvalidInput("depth must be 0 or more")
    node = node_path(prefix)
    matches = compile_filter(filter)
    base = _meta_dir(node)
    found = [
        (path, seq)
        async for path, seq, _ in visible(conn, repo_id, Collection.metadata, view, base)
        if path.count("/") - base.count("/") < depth and path.endswith((GROUP, ARRAY))
    ]
    top = Tree()
    own_doc = f"{ROOT}/{node}{GROUP}" if node else f"{ROOT}{GROUP}"
    own = await contents(conn, repo_id, Collection.metadata, dict(await _own(conn, repo_id, view, own_doc)))
    if own_doc in own:
        top.attributes = own[own_doc].get("attributes") or {}
    async for path, doc in matching(conn, repo_id, Collection.metadata, found, matches):
        *groups, leaf = path[len(base) :].split("/")
        where = top
        for group in groups:
            where = where.trees.setdefault(group, Tree())
        if leaf.endswith(ARRAY):
            where.arrays[leaf.removesuffix(ARRAY)] = doc
        else:
            where.trees.setdefault(leaf.removesuffix(GROUP), Tree()).attributes = doc.get("attributes") or {}
    return top


async def _own(conn: AsyncConnection, repo_id: str, view: View, path: str) -> list[tuple[str, int]]:
    async for found, seq, _ in visible(conn, repo_id, Collection.metadata, view, path):
        if found == path:
            return [(path, seq)]
    return []


def _node_keys(node: str) -> list[tuple[Collection, str]]:
    """The prefixes of every document of a node: its own document, its children's, its chunks."""
    return [
        (Collection.metadata, f"{ROOT}/{node}{GROUP}"),
        (Collection.metadata, f"{ROOT}/{node}{ARRAY}"),
        (Collection.metadata, f"{ROOT}/{node}/"),
        (Collection.chunks, f"data/root/{node}/"),
    ]


async def _node_documents(
    conn: AsyncConnection, repo_id: str, view: View, node: str
) -> dict[Collection, dict[str, int]]:
    found: dict[Collection, dict[str, int]] = {Collection.metadata: {}, Collection.chunks: {}}
    for coll, prefix in _node_keys(node):
        exact = not prefix.endswith("/")
        async for path, seq, _ in visible(conn, repo_id, coll, view, prefix):
            if not exact or path == prefix:
                found[coll][path] = seq
    return found


async def rename_node(
    conn: AsyncConnection,
    repo_id: str,
    session_id: str,
    base_commit: str | None,
    src_path: str,
    dst_path: str,
) -> int:
    """Move the group or array ``src_path`` and everything under it to ``dst_path``, which must not exist;
    how many documents moved."""
    src, dst = node_path(src_path), node_path(dst_path)
    if not src or not dst:
        raise InvalidInput("the root group cannot be renamed, nor anything renamed to it")
    if dst == src or dst.startswith(src + "/"):
        raise InvalidInput(f"cannot move {src!r} into itself")
    session_seq = await writable_session(conn, repo_id, session_id)
    view = View(await commit_chain(conn, repo_id, base_commit), session_seq, session_id)
    moving = await _node_documents(conn, repo_id, view, src)
    if not any(moving.values()):
        raise InvalidInput(f"there is no group or array at {src!r}")
    if any((await _node_documents(conn, repo_id, view, dst)).values()):
        raise InvalidInput(f"{dst!r} exists already")
    key: dict[str, Any] = {"repo_id": repo_id, "session_seq": session_seq}
    moved = 0
    for coll, versions in moving.items():
        old_root = f"{ROOT}/{src}" if coll is Collection.metadata else f"data/root/{src}"
        new_root = f"{ROOT}/{dst}" if coll is Collection.metadata else f"data/root/{dst}"
        paths = sorted(versions)
        for start in range(0, len(paths), BATCH):
            batch = {path: versions[path] for path in paths[start : start + BATCH]}
            docs = await contents(conn, repo_id, coll, batch)
            rows = []
            for path, doc in docs.items():
                target = check_path(coll, new_root + path[len(old_root) :])
                size = doc.get("length") if coll is Collection.chunks else None
                rows.append(
                    {
                        **key,
                        "collection": coll,
                        "path": target,
                        "deleted": False,
                        "content": doc,
                        "chunk_bytes": size,
                    }
                )
                rows.append(
                    {
                        **key,
                        "collection": coll,
                        "path": path,
                        "deleted": True,
                        "content": None,
                        "chunk_bytes": None,
                    }
                )
            await upsert(conn, rows)
            moved += len(docs)
    return moved
