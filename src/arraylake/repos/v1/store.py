"""A zarr-python 3 store over a V1 repo session: reads and writes, translating to the draft key space."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from zarr.abc.store import ByteRequest, OffsetByteRequest, RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import Buffer, BufferPrototype

from arraylake.repos.v1 import metadata as md
from arraylake.repos.v1.prefetch import ReferencePrefetcher
from arraylake.types.v1 import SessionType

if TYPE_CHECKING:
    from arraylake.repos.v1.repo import AsyncRepo


def _slice(data: bytes, byte_range: ByteRequest | None) -> bytes:
    if byte_range is None:
        return data
    if isinstance(byte_range, RangeByteRequest):
        return data[byte_range.start : byte_range.end]
    if isinstance(byte_range, OffsetByteRequest):
        return data[byte_range.offset :]
    if isinstance(byte_range, SuffixByteRequest):
        return data[-byte_range.suffix :] if byte_range.suffix else b""
    raise TypeError(f"unexpected byte range {byte_range!r}")


class V1Store(Store):
    """The Zarr 3 view of a V1 repo's checked-out session.

    Zarr 3 metadata (``a/zarr.json``) is kept as the Zarr v3 draft documents of V1 repos
    (``meta/root/a.group.json`` / ``.array.json``), chunk keys ``a/c/0/1`` as ``data/root/a/c0/1``; chunk
    bytes go straight to and from the repo's bucket. Writable when the session is a write session on a branch.
    """

    supports_writes = True
    supports_deletes = True
    supports_listing = True
    supports_partial_writes = False  # type: ignore[assignment]

    def __init__(self, repo: AsyncRepo, *, read_only: bool | None = None):
        super().__init__(read_only=not repo.session.writable if read_only is None else read_only)
        self.repo = repo
        self._prefetch = self._prefetcher()

    def _prefetcher(self) -> ReferencePrefetcher | None:
        # only a read session's view is immutable, so only there may references be read ahead and kept
        return ReferencePrefetcher(self.repo) if self.repo.session.session_type == SessionType.read else None

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "_prefetch"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._prefetch = self._prefetcher()

    def __repr__(self) -> str:
        return f"V1Store({self.repo.repo_name!r}, session={self.repo.session.id!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, V1Store)
            and other.repo.repo_name == self.repo.repo_name
            and other.repo.session.id == self.repo.session.id
            and other.repo.session.base_commit == self.repo.session.base_commit
        )

    def __hash__(self) -> int:
        return hash((self.repo.repo_name, self.repo.session.id))

    def with_read_only(self, read_only: bool = False) -> V1Store:
        return V1Store(self.repo, read_only=read_only)

    @property
    def supports_consolidated_metadata(self) -> bool:
        return False

    # ------------------------------------------------------------------------------------------- reading

    async def _node_doc(self, node: str) -> dict[str, Any] | None:
        group, array = md.meta_docs(node)
        docs = await self.repo._get_docs([group, array])
        if array in docs:
            return md.array_from_draft(docs[array])
        if group in docs:
            return md.group_from_draft(docs[group])
        return None

    async def get(
        self, key: str, prototype: BufferPrototype, byte_range: ByteRequest | None = None
    ) -> Buffer | None:
        node = md.node_path(key)
        if node is not None:
            doc = await self._node_doc(node)
            if doc is None and node == "":
                doc = md.group_from_draft({})  # every V1 repo has a root group, stored or not
            if doc is None:
                return None
            return prototype.buffer.from_bytes(_slice(json.dumps(doc).encode(), byte_range))
        try:
            path = md.chunk_doc(key)
        except KeyError:
            return None
        if self._prefetch is not None:
            ref = await self._prefetch.reference(key)
            data = None if ref is None else (await self.repo.chunkstore.get_chunks({path: ref})).get(path)
        else:
            data = (await self.repo._get_chunks([path])).get(path)
        return None if data is None else prototype.buffer.from_bytes(_slice(data, byte_range))

    async def get_partial_values(
        self, prototype: BufferPrototype, key_ranges: Iterable[tuple[str, ByteRequest | None]]
    ) -> list[Buffer | None]:
        return list(await asyncio.gather(*(self.get(key, prototype, rng) for key, rng in key_ranges)))

    async def exists(self, key: str) -> bool:
        node = md.node_path(key)
        if node is not None:
            return await self._node_doc(node) is not None
        try:
            path = md.chunk_doc(key)
        except KeyError:
            return False
        return await self.repo._chunk_exists(path)

    # ------------------------------------------------------------------------------------------- writing

    async def set(self, key: str, value: Buffer) -> None:
        self._check_writable()
        node = md.node_path(key)
        if node is None:
            await self.repo._set_chunk(md.chunk_doc(key), value.to_bytes())
            return
        doc = json.loads(value.to_bytes())
        group, array = md.meta_docs(node)
        if md.is_array_doc(doc):
            path, content, other = array, md.array_to_draft(doc), group
        else:
            path, content, other = group, md.group_to_draft(doc), array
        await self.repo._set_doc(path, content)
        if await self.repo._doc_exists(other):  # a node is a group or an array, not both
            await self.repo._del_docs([other])

    async def delete(self, key: str) -> None:
        self._check_writable()
        node = md.node_path(key)
        paths = [md.chunk_doc(key)] if node is None else list(md.meta_docs(node))
        existing = [p for p in paths if await self._has(p)]
        if existing:
            await self.repo._del_docs(existing)

    async def _has(self, path: str) -> bool:
        return await self.repo._doc_exists(path)

    async def delete_dir(self, prefix: str) -> None:
        self._check_writable()
        node = prefix.strip("/")
        if node == "":
            await self.repo._del_prefix(md.META_ROOT)
            await self.repo._del_prefix(md.DATA_ROOT)
            return
        await self.delete(f"{node}/{md.ZARR_JSON}")
        await self.repo._del_prefix(f"{md.META_ROOT}/{node}/")
        await self.repo._del_prefix(f"{md.DATA_ROOT}{node}/")

    # ------------------------------------------------------------------------------------------- listing

    async def _zarr3_keys(self, meta_prefix: str, data_prefix: str) -> list[str]:
        paths = await self.repo._list(meta_prefix, all_subdirs=True)
        paths += await self.repo._list(data_prefix, all_subdirs=True)
        return [key for path in paths if (key := md.zarr3_key(path)) is not None]

    async def list(self) -> AsyncIterator[str]:
        for key in await self._zarr3_keys(md.META_ROOT, md.DATA_ROOT):
            yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        node = prefix.rstrip("/")
        meta = f"{md.META_ROOT}/{node}" if node else md.META_ROOT
        data = f"{md.DATA_ROOT}{node}" if node else md.DATA_ROOT
        for key in await self._zarr3_keys(meta, data):
            if key.startswith(prefix):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        node = prefix.strip("/")
        names: list[str] = []
        if await self._node_doc(node) is not None:
            names.append(md.ZARR_JSON)
        meta_dir = f"{md.META_ROOT}/{node}" if node else md.META_ROOT
        for path in await self.repo._list(meta_dir):
            name = path[len(meta_dir) + 1 :]
            name = name.removesuffix(md.GROUP_SUFFIX).removesuffix(md.ARRAY_SUFFIX)
            if name and name not in names:
                names.append(name)
        data_dir = f"{md.DATA_ROOT}{node}" if node else md.DATA_ROOT.rstrip("/")
        for path in await self.repo._list(data_dir):
            name = path[len(data_dir) + 1 :]
            if name[:1] == "c" and name[1:].isdigit() and "c" not in names:
                names.append("c")
        for name in names:
            yield name

    async def getsize_prefix(self, prefix: str) -> int:
        return await self.repo._getsize(prefix.strip("/"))
