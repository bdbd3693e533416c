"""The hash chain: an entry's canonical form and hash. Pure functions, shared by writers and verifiers.

``hash(n) = sha256(prev_hash(n) + canonical(n))`` where ``prev_hash(n) = hash(n-1)`` and the first entry's
``prev_hash`` is :data:`GENESIS`. The canonical form is sorted-key JSON of every stored field but ``hash``, so
changing any field, removing or reordering entries breaks the chain at that entry.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = (
    "seq",
    "at",
    "action",
    "outcome",
    "org_id",
    "org",
    "actor_id",
    "actor",
    "repo",
    "target",
    "details",
    "request_id",
    "client_address",
    "prev_hash",
)


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's hash covers (``entry``: a row of ``audit_log`` or a dict with its fields)."""
    fields = {name: entry[name] for name in HASHED_FIELDS}
    fields["at"] = _timestamp(fields["at"])
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(str(entry["prev_hash"]).encode() + canonical(entry)).hexdigest()


def plain_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """Details as JSON gives them back (so that the hash computed on write is the one verified on read):
    strings, whole numbers, booleans, None, and lists or objects of them; anything else becomes a string."""

    def plain(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | str):
            return value
        if isinstance(value, float):
            return int(value) if value.is_integer() else str(value)
        if isinstance(value, datetime):
            return _timestamp(value)
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            items = [plain(v) for v in value]
            return sorted(items, key=str) if isinstance(value, set | frozenset) else items
        return str(value)

    return plain(dict(details))
