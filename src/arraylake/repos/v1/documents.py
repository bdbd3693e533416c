"""The low-level document and chunk API of a V1 repo: reads and writes in the current session."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from arraylake.repos.v1.chunkstore import Chunkstore
from arraylake.repos.v1.metadata import ENTRY_POINT
from arraylake.repos.v1.metastore import Metastore
from arraylake.repos.v1.sessions import LocalSession
from arraylake.types.v1 import CollectionName, ReferenceData

_NOT_WRITABLE = (
    "this repo is not checked out for writing on a branch tip: "
    "check out a branch with `checkout(branch, for_writing=True)`"
)


def collection_of(path: str) -> CollectionName:
    """The collection a key lives in: ``meta/...`` metadata, ``data/...`` chunk references."""
    if path.startswith("meta"):
        return CollectionName.metadata
    if path.startswith("data"):
        return CollectionName.chunks
    raise ValueError(f"{path!r} is not a V1 key: keys start with 'meta/' or 'data/'")


def _split(paths: Iterable[str]) -> dict[CollectionName, list[str]]:
    grouped: dict[CollectionName, list[str]] = {}
    for path in paths:
        grouped.setdefault(collection_of(path), []).append(path)
    return grouped


class DocumentAccess:
    """Documents and chunks of the checked-out session (the store's and export's building blocks)."""

    db: Metastore
    chunkstore: Chunkstore
    _session: LocalSession | None

    @property
    def session(self) -> LocalSession:
        """The current session; checking out a ref starts one."""
        if self._session is None:
            raise ValueError("nothing is checked out: call `checkout()` first")
        return self._session

    def _where(self) -> tuple[str, str | None]:
        session = self.session
        return session.id, session.base_commit

    def _writable(self) -> LocalSession:
        session = self.session
        if not session.writable:
            raise OSError(_NOT_WRITABLE)
        return session

    # ---------------------------------------------------------------------------------------- documents

    async def _get_docs(self, paths: Iterable[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for collection, group in _split(paths).items():
            found.update(await self.db.get_docs(collection, group, *self._where()))
        return found

    async def _get_doc(self, path: str) -> dict[str, Any]:
        docs = await self._get_docs([path])
        if path not in docs:
            raise KeyError(path)
        return docs[path]

    async def _doc_exists(self, path: str) -> bool:
        return path in await self._get_docs([path])

    async def _set_docs(self, docs: Mapping[str, dict[str, Any]]) -> None:
        session = self._writable()
        grouped: dict[CollectionName, dict[str, dict[str, Any]]] = {}
        for path, content in docs.items():
            grouped.setdefault(collection_of(path), {})[path] = content
        for collection, group in grouped.items():
            await self.db.set_docs(collection, group, session.id, session.base_commit)

    async def _set_doc(self, path: str, content: dict[str, Any]) -> None:
        await self._set_docs({path: content})

    async def _del_docs(self, paths: Iterable[str]) -> None:
        session = self._writable()
        for collection, group in _split(paths).items():
            await self.db.delete_docs(collection, group, session.id, session.base_commit)

    async def _del_doc(self, path: str) -> None:
        if not await self._doc_exists(path):
            raise KeyError(path)
        await self._del_docs([path])

    async def _del_prefix(self, prefix: str) -> None:
        session = self._writable()
        for collection in _prefix_collections(prefix):
            await self.db.delete_prefix(collection, prefix, session.id, session.base_commit)

    # ------------------------------------------------------------------------------------------- chunks

    async def _get_chunk_refs(self, paths: Iterable[str]) -> dict[str, ReferenceData]:
        docs = await self.db.get_docs(CollectionName.chunks, paths, *self._where())
        return {path: ReferenceData.model_validate(doc) for path, doc in docs.items()}

    async def _get_chunk_ref(self, path: str) -> ReferenceData:
        refs = await self._get_chunk_refs([path])
        if path not in refs:
            raise KeyError(path)
        return refs[path]

    async def _set_chunk_refs(self, refs: Mapping[str, ReferenceData]) -> None:
        session = self._writable()
        docs = {path: ref.model_dump(mode="json") for path, ref in refs.items()}
        await self.db.set_docs(CollectionName.chunks, docs, session.id, session.base_commit)

    async def _set_chunk_ref(self, path: str, ref: ReferenceData) -> None:
        await self._set_chunk_refs({path: ref})

    async def _get_chunks(self, paths: Iterable[str], *, validate: bool = False) -> dict[str, bytes]:
        return await self.chunkstore.get_chunks(await self._get_chunk_refs(paths), validate=validate)

    async def _get_chunk(self, path: str, *, validate: bool = False) -> bytes:
        chunks = await self._get_chunks([path], validate=validate)
        if path not in chunks:
            raise KeyError(path)
        return chunks[path]

    async def _set_chunks(self, chunks: Mapping[str, bytes]) -> None:
        session = self._writable()
        refs = {path: await self.chunkstore.add_chunk(data, session.id) for path, data in chunks.items()}
        await self._set_chunk_refs(refs)

    async def _set_chunk(self, path: str, data: bytes) -> None:
        await self._set_chunks({path: data})

    async def _chunk_exists(self, path: str) -> bool:
        return path in await self._get_chunk_refs([path])

    async def _del_chunks(self, paths: Iterable[str]) -> None:
        await self._del_docs(paths)

    async def _del_chunk(self, path: str) -> None:
        await self._del_doc(path)

    # ---------------------------------------------------------------------------------- listing and size

    async def _list(self, prefix: str, *, all_subdirs: bool = False, filter: str | None = None) -> list[str]:
        """Paths under ``prefix`` (sent to the collections the prefix can name)."""
        if prefix.startswith("/"):
            raise ValueError(f"prefix {prefix!r} must not start with '/'")
        paths: list[str] = []
        for collection in _prefix_collections(prefix):
            paths += await self.db.list_paths(
                collection, prefix, *self._where(), all_subdirs=all_subdirs, filter=filter
            )
        return paths

    async def _list_prefix(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, recursively (``""`` also yields ``zarr.json``)."""
        paths = await self._list(prefix, all_subdirs=True)
        return ["zarr.json", *paths] if prefix == "" else paths

    async def _list_dir(self, prefix: str) -> list[str]:
        """The names right under a directory, as zarr-python 2's draft stores list them."""
        stripped = prefix.strip("/")
        if stripped == "":
            return ["data", "meta", "zarr.json"]
        if stripped == "data":
            return ["root"]
        names: list[str] = []
        for path in await self._list(stripped):
            name = path[len(stripped) + 1 :] if path.startswith(stripped + "/") else path
            name = name.removesuffix(".group.json")
            if name and name not in names:
                names.append(name)
        return names

    async def _getsize(self, prefix: str) -> int:
        """Bytes of the chunks under an array or group path."""
        answer = await self.db.getsize(f"data/root/{prefix}".rstrip("/"), *self._where())
        return answer.total_chunk_bytes

    async def _rename(self, src: str, dst: str) -> None:
        session = self._writable()
        await self.db.rename(src, dst, session.id, session.base_commit)

    async def _modified(self, limit: int = 0) -> list[tuple[str, bool]]:
        """``(path, deleted)`` of each path this session wrote."""
        session = self.session
        changed: list[tuple[str, bool]] = []
        if session.session_type == "write":
            for collection in (CollectionName.metadata, CollectionName.chunks):
                for entry in await self.db.modified_paths(collection, session.id, session.base_commit, limit):
                    changed.append((entry.path, entry.deleted))
        return changed

    @staticmethod
    def _entry_point() -> dict[str, Any]:
        return dict(ENTRY_POINT)


def _prefix_collections(prefix: str) -> list[CollectionName]:
    if prefix == "":
        return [CollectionName.metadata, CollectionName.chunks]
    if prefix.startswith("data"):
        return [CollectionName.chunks]
    if prefix.startswith("meta"):
        return [CollectionName.metadata]
    return []
