"""Chunk references: hashing, inlining and the object layout, and reading them back from a local bucket."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import pytest

from arraylake.config import config
from arraylake.exceptions import ExpectedChunkNotFoundError
from arraylake.repos.v1.chunkstore import BucketAccess, Chunkstore, decode_inline, encode_inline
from arraylake.types import BucketResponse
from arraylake.types.v1 import ReferenceData

REPO_ID = "65f1c2d3e4a5b6c7d8e9f001"


def local_chunkstore(path: Path, prefix: str = "") -> Chunkstore:
    bucket = BucketResponse.model_validate(
        {
            "id": str(uuid.uuid4()),
            "nickname": "nick",
            "platform": "local",
            "name": "local",
            "prefix": prefix,
            "is_default": False,
            "extra_config": {"local_path": str(path)},
        }
    )
    return Chunkstore(BucketAccess(bucket), REPO_ID)


def test_small_utf8_chunks_are_inline_text(tmp_path: Path) -> None:
    ref, upload = local_chunkstore(tmp_path).reference_for(b"hello", "sid")
    assert upload is None
    assert ref.uri == "inline://hello"
    assert ref.hash is not None and ref.hash.method == "hashlib.sha256"
    assert ref.hash.token == hashlib.sha256(b"hello").hexdigest()
    assert (ref.v, ref.sid, ref.offset, ref.length) == (1, "sid", 0, 5)


def test_binary_chunks_are_inline_base64() -> None:
    assert encode_inline(b"\x00\x01\x02") == "inline://base64:AAEC"
    assert decode_inline("inline://base64:AAEC") == b"\x00\x01\x02"


def test_text_that_looks_like_base64_stays_itself() -> None:
    uri = encode_inline(b"base64:AAEC")
    assert uri is not None
    assert decode_inline(uri) == b"base64:AAEC"


def test_inline_text_is_at_most_512_characters() -> None:
    assert encode_inline(b"x" * 512) is not None
    assert encode_inline(b"\xff" * 400) is None  # 400 bytes are 536 characters of base64


def test_larger_chunks_go_to_the_bucket_under_their_hash_and_session(tmp_path: Path) -> None:
    store = local_chunkstore(tmp_path, prefix="pre")
    data = b"\xff" * 600
    ref, upload = store.reference_for(data, "sess1")
    assert upload == data
    assert ref.uri is None and ref.hash is not None
    assert store.object_key(ref.hash.token, "sess1") == f"pre/{REPO_ID}/chunks/{ref.hash.token}.sess1"


def test_inlining_can_be_switched_off(tmp_path: Path) -> None:
    with config.set({"chunkstore.inline_threshold_bytes": 0}):
        _, upload = local_chunkstore(tmp_path).reference_for(b"tiny", "sid")
    assert upload == b"tiny"


def test_another_hash_method(tmp_path: Path) -> None:
    with config.set({"chunkstore.hash_method": "hashlib.md5"}):
        ref, _ = local_chunkstore(tmp_path).reference_for(b"abc", "sid")
    assert ref.hash is not None
    assert (ref.hash.method, ref.hash.token) == ("hashlib.md5", hashlib.md5(b"abc").hexdigest())  # noqa: S324


def test_chunks_round_trip_through_a_local_bucket(tmp_path: Path) -> None:
    store = local_chunkstore(tmp_path)
    chunks = {"data/root/a/c0": b"small", "data/root/a/c1": bytes(range(256)) * 8}

    async def run() -> dict[str, bytes]:
        refs = {key: await store.add_chunk(data, "s1") for key, data in chunks.items()}
        assert refs["data/root/a/c1"].hash is not None
        token = refs["data/root/a/c1"].hash.token
        assert (tmp_path / REPO_ID / "chunks" / f"{token}.s1").read_bytes() == chunks["data/root/a/c1"]
        return await store.get_chunks(refs, validate=True)

    assert asyncio.run(run()) == chunks


def test_a_missing_object_is_an_error_unless_told_otherwise(tmp_path: Path) -> None:
    store = local_chunkstore(tmp_path)
    ref = ReferenceData.model_validate(
        {"offset": 0, "length": 9, "hash": {"method": "hashlib.sha256", "token": "ab"}, "v": 1, "sid": "s"}
    )
    with pytest.raises(ExpectedChunkNotFoundError):
        asyncio.run(store.get_chunks({"data/root/a/c0": ref}))
    with config.set({"chunkstore.unsafe_use_fill_value_for_missing_chunks": True}):
        assert asyncio.run(store.get_chunks({"data/root/a/c0": ref})) == {}
