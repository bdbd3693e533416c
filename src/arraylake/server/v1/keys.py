"""The V1 key space: collections, document paths, prefix ranges and derived document ids."""

from __future__ import annotations

import hashlib
from enum import IntEnum

from arraylake.server.errors import InvalidInput
from arraylake.types.v1 import CollectionName

MAX_PATH_LENGTH = 1024
MAX_BATCH = 10_000
"""Documents per bulk request: the client sends 20; a bound keeps each transaction short."""


class Collection(IntEnum):
    """How a document collection is stored (a small integer in every index entry)."""

    metadata = 1
    chunks = 2

    @property
    def root(self) -> str:
        return "meta/" if self is Collection.metadata else "data/root/"


def collection(name: str) -> Collection:
    """The stored collection called ``name``; 422 for ``nodes``, ``sessions`` or anything unknown."""
    if name == CollectionName.metadata:
        return Collection.metadata
    if name == CollectionName.chunks:
        return Collection.chunks
    raise InvalidInput(f"unknown document collection {name!r}: use 'metadata' or 'chunks'")


def _text_problem(text: str) -> str | None:
    if len(text) > MAX_PATH_LENGTH:
        return f"longer than {MAX_PATH_LENGTH} characters"
    if any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF for c in text):
        return "has control characters or lone surrogates"
    return None


def check_path(coll: Collection, path: str) -> str:
    """``path`` if it is a key of ``coll``: ``meta/....json`` for metadata, ``data/root/...`` for chunks."""
    problem = _text_problem(path)
    if problem is None and not path.startswith(coll.root):
        problem = f"is outside the {coll.name} key space (keys start with {coll.root!r})"
    if problem is None and coll is Collection.metadata and not path.endswith(".json"):
        problem = "is not a metadata document (those end with '.json')"
    if problem is None and any(part in ("", ".", "..") for part in path.split("/")):
        problem = "has an empty, '.' or '..' segment"
    if problem is None and coll is Collection.chunks and path.count("/") < 2:
        problem = "names no array"
    if problem is not None:
        raise InvalidInput(f"path {path[:200]!r} {problem}")
    return path


def check_prefix(prefix: str) -> str:
    """A listing prefix: any text short of control characters, not starting with '/'."""
    problem = _text_problem(prefix)
    if problem is None and prefix.startswith("/"):
        problem = "starts with '/'"
    if problem is not None:
        raise InvalidInput(f"prefix {prefix[:200]!r} {problem}")
    return prefix


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (``None``: no bound), so that
    ``prefix <= path < prefix_end(prefix)`` is one index range in byte (code point) order."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop()) + 1
        if 0xD800 <= last <= 0xDFFF:
            last = 0xE000
        if last <= 0x10FFFF:
            return "".join(chars) + chr(last)
    return None


def doc_id(session_id: str, coll: Collection, path: str) -> str:
    """A stable 24-hex id of one document version (the wire's ``_id``), derived rather than stored."""
    return hashlib.sha256(f"{session_id}\0{coll.value}\0{path}".encode()).hexdigest()[:24]
