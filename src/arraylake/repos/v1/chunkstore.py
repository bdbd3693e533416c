"""The chunkstore: chunk bytes in the repo's bucket under content hashes, small chunks inline in their
references, reads grouped per object."""

from __future__ import annotations

import asyncio
import base64
import importlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from arraylake.client.storage_credentials import ServiceCredentials
from arraylake.config import config as _config
from arraylake.exceptions import ExpectedChunkNotFoundError
from arraylake.names import join_prefix
from arraylake.storage import extra_str, force_path_style, local_bucket_path, use_ssl
from arraylake.types import (
    S3_LIKE_PLATFORMS,
    AnyCredentials,
    BucketResponse,
    GSCredentials,
    Platform,
    S3Credentials,
)
from arraylake.types.v1 import INLINE_SCHEME, ChunkHash, ReferenceData

if TYPE_CHECKING:
    from obstore.store import ClientConfig, GCSCredential, S3Config, S3Credential

INLINE_MAX_BYTES = 512
"""The most bytes a chunk may have, and its encoded text may have, to live inline in its reference."""
DEFAULT_HASH_METHOD = "hashlib.sha256"
KNOWN_KEYS = 5000
_BASE64 = "base64:"


def hasher(method: str) -> Callable[[bytes], Any]:
    """The hash function called ``module.func`` (``hashlib.sha256``, ``xxhash.xxh128``...)."""
    module, _, name = method.rpartition(".")
    if not module:
        raise ValueError(f"hash method {method!r} is not of the form module.function")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def inline_threshold() -> int:
    """Chunks of at most this many bytes are inlined (0 or less: never); capped at 512."""
    return min(int(_config.get("chunkstore.inline_threshold_bytes", INLINE_MAX_BYTES)), INLINE_MAX_BYTES)


def encode_inline(data: bytes) -> str | None:
    """``inline://<text>`` (UTF-8 data) or ``inline://base64:<b64>``, or ``None`` if the text is too long."""
    try:
        text: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    # Control characters are base64 too (the service refuses them in documents, and the reference of
    # 00 01 02 is documented as base64), as is text that would read back as base64.
    if text is None or not text.isprintable() or text.startswith(_BASE64):
        text = _BASE64 + base64.b64encode(data).decode("ascii")
    return INLINE_SCHEME + text if len(text) <= INLINE_MAX_BYTES else None


def decode_inline(uri: str) -> bytes:
    text = uri[len(INLINE_SCHEME) :]
    if text.startswith(_BASE64):
        return base64.b64decode(text[len(_BASE64) :])
    return text.encode("utf-8")


def is_inline(ref: ReferenceData) -> bool:
    return ref.uri is not None and ref.uri.startswith(INLINE_SCHEME)


@dataclass
class BucketAccess:
    """How to reach the repo's bucket (and other buckets of its platform): picklable, with the object store
    built on first use in each process."""

    bucket: BucketResponse
    credentials: AnyCredentials | None = None
    refresh: ServiceCredentials | None = None
    _stores: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "credentials": self.credentials, "refresh": self.refresh}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def store(self, bucket_name: str | None = None) -> Any:
        """The obstore store of bucket ``bucket_name`` (default: the repo's bucket)."""
        name = bucket_name or self.bucket.name
        key = (name, os.getpid())
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = self._build(name)
            return store

    def _build(self, name: str) -> Any:
        from obstore.store import GCSStore, LocalStore, S3Store

        bucket = self.bucket
        if bucket.platform == Platform.LOCAL:
            if name != bucket.name:
                raise ValueError(f"local bucket {bucket.nickname!r} cannot read from bucket {name!r}")
            return LocalStore(local_bucket_path(bucket), mkdir=True)
        if bucket.platform in S3_LIKE_PLATFORMS:
            config: S3Config = {"virtual_hosted_style_request": not force_path_style(bucket)}
            if endpoint := extra_str(bucket, "endpoint_url"):
                config["endpoint"] = endpoint
            if region := extra_str(bucket, "region_name"):
                config["region"] = region
            options: ClientConfig = {"allow_http": not use_ssl(bucket)}
            if self.refresh is not None:
                return S3Store(
                    name, config=config, client_options=options, credential_provider=self._s3_provider
                )
            creds = self.credentials
            if isinstance(creds, S3Credentials):
                config["access_key_id"] = creds.aws_access_key_id
                config["secret_access_key"] = creds.aws_secret_access_key.get_secret_value()
                if creds.aws_session_token:
                    config["session_token"] = creds.aws_session_token.get_secret_value()
            elif creds is None and bucket.auth_method.value == "anonymous":
                config["skip_signature"] = True
            return S3Store(name, config=config, client_options=options)
        if bucket.platform == Platform.GS:
            if self.refresh is not None:
                return GCSStore(name, credential_provider=self._gcs_provider)
            if isinstance(self.credentials, GSCredentials):
                return GCSStore(
                    name, config={"bearer_token": self.credentials.access_token.get_secret_value()}
                )
            return GCSStore(name, config={"skip_signature": True})
        raise ValueError(f"V1 repos cannot keep chunks on {bucket.platform.value} buckets")

    async def _current(self) -> AnyCredentials:
        assert self.refresh is not None
        return await asyncio.to_thread(self.refresh.current)

    async def _s3_provider(self) -> S3Credential:
        creds = await self._current()
        assert isinstance(creds, S3Credentials)
        return {
            "access_key_id": creds.aws_access_key_id,
            "secret_access_key": creds.aws_secret_access_key.get_secret_value(),
            "token": creds.aws_session_token.get_secret_value() if creds.aws_session_token else None,
            "expires_at": creds.expiration,
        }

    async def _gcs_provider(self) -> GCSCredential:
        creds = await self._current()
        assert isinstance(creds, GSCredentials)
        return {"token": creds.access_token.get_secret_value(), "expires_at": creds.expiration}


class _KnownKeys:
    """Object keys this process wrote or saw: a bounded set, oldest forgotten first."""

    def __init__(self, size: int = KNOWN_KEYS):
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def __contains__(self, key: str) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        return False

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)


_known = _KnownKeys()


class Chunkstore:
    """Chunk bytes of one V1 repo: ``{bucket prefix}/{repo id}/chunks/{hash}.{session id}``.

    Args:
        access: The repo's bucket.
        repo_id: The repo's id (24 hex digits): the objects' key prefix under the bucket's prefix.
    """

    def __init__(self, access: BucketAccess, repo_id: str):
        self.access = access
        self.repo_id = repo_id
        self.prefix = join_prefix(access.bucket.prefix, f"{repo_id}/chunks")

    def __repr__(self) -> str:
        return f"Chunkstore({self.access.bucket.nickname!r}, {self.prefix!r})"

    def object_key(self, token: str, session_id: str) -> str:
        return f"{self.prefix}/{token}.{session_id}"

    def reference_for(self, data: bytes, session_id: str) -> tuple[ReferenceData, bytes | None]:
        """The reference of ``data`` written in ``session_id``, and the bytes to upload (``None``: inline)."""
        method = str(_config.get("chunkstore.hash_method", DEFAULT_HASH_METHOD))
        token = hasher(method)(data).hexdigest()
        chunk_hash = ChunkHash(method=method, token=token)
        if inline_threshold() > 0 and len(data) <= inline_threshold():
            uri = encode_inline(data)
            if uri is not None:
                ref = ReferenceData(uri=uri, offset=0, length=len(data), hash=chunk_hash, v=1, sid=session_id)
                return ref, None
        return ReferenceData(offset=0, length=len(data), hash=chunk_hash, v=1, sid=session_id), data

    async def add_chunk(self, data: bytes, session_id: str) -> ReferenceData:
        """Store a chunk (upload it, or inline it) and return its reference."""
        import obstore

        ref, upload = self.reference_for(data, session_id)
        if upload is not None:
            assert ref.hash is not None
            key = self.object_key(ref.hash.token, session_id)
            if key not in _known:
                await obstore.put_async(self.access.store(), key, upload)
                _known.add(key)
        return ref

    def _location(self, ref: ReferenceData) -> tuple[str | None, str]:
        if ref.uri is None:
            assert ref.hash is not None and ref.sid is not None
            return None, self.object_key(ref.hash.token, ref.sid)
        parsed = urlparse(ref.uri)
        return parsed.netloc, parsed.path.lstrip("/")

    async def get_chunks(
        self, refs: Mapping[str, ReferenceData], *, validate: bool = False
    ) -> dict[str, bytes]:
        """The bytes of each referenced chunk; one ranged read per object, neighbouring ranges merged."""
        import obstore
        from obstore.exceptions import NotFoundError

        found: dict[str, bytes] = {}
        by_object: dict[tuple[str | None, str], list[tuple[str, ReferenceData]]] = {}
        for key, ref in refs.items():
            if is_inline(ref):
                assert ref.uri is not None
                found[key] = decode_inline(ref.uri)
            else:
                by_object.setdefault(self._location(ref), []).append((key, ref))
        missing_ok = bool(_config.get("chunkstore.unsafe_use_fill_value_for_missing_chunks", False))
        coalesce = int(_config.get("chunkstore.coalesce_size", 1024 * 1024))

        async def read(location: tuple[str | None, str], wanted: list[tuple[str, ReferenceData]]) -> None:
            bucket_name, path = location
            store = self.access.store(bucket_name)
            try:
                parts = await obstore.get_ranges_async(
                    store,
                    path,
                    starts=[ref.offset for _, ref in wanted],
                    lengths=[ref.length for _, ref in wanted],
                    coalesce=coalesce,
                )
            except (NotFoundError, FileNotFoundError) as exc:
                if missing_ok:
                    return
                raise ExpectedChunkNotFoundError(f"chunk object {path!r} is missing from the bucket") from exc
            for (key, _), part in zip(wanted, parts, strict=True):
                found[key] = bytes(part)

        await asyncio.gather(*(read(location, wanted) for location, wanted in by_object.items()))
        if validate:
            for key, data in found.items():
                ref = refs[key]
                if ref.hash is not None and hasher(ref.hash.method)(data).hexdigest() != ref.hash.token:
                    raise ValueError(f"chunk {key} does not match its hash")
        return found

    async def ping(self) -> None:
        """Check that the bucket answers (listing at most one key)."""
        import obstore

        stream = obstore.list(self.access.store(), prefix=self.prefix, chunk_size=1)
        await anext(aiter(stream), None)


def chunkstore_for(
    bucket: BucketResponse,
    repo_id: str,
    credentials: AnyCredentials | None,
    refresh: ServiceCredentials | None,
) -> Chunkstore:
    """The chunkstore of a repo, with static credentials or credentials refreshed from the service."""
    return Chunkstore(BucketAccess(bucket, credentials, refresh), repo_id)
