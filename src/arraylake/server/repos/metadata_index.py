"""The metadata index: one row per (repo, key, value) so that ``filter_metadata`` is indexed equality.

A list value is indexed as a whole and element by element: a scalar filter matches an equal scalar or a list
that contains it; a list filter matches an equal list. Integral floats compare equal to integers (``1.0``
matches ``1``); booleans do not match numbers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import repo_metadata, repos
from arraylake.server.errors import InvalidInput
from arraylake.types import RepoMetadata, validate_metadata


def _normalize(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


def value_hash(value: Any) -> str:
    canonical = json.dumps(_normalize(value), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha1(canonical.encode(), usedforsecurity=False).hexdigest()


def index_rows(repo_id: str, metadata: RepoMetadata | None) -> list[dict[str, str]]:
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for key, value in (metadata or {}).items():
        values = [value, *value] if isinstance(value, list) else [value]
        for item in values:
            h = value_hash(item)
            rows[(key, h)] = {"repo_id": repo_id, "key": key, "value_hash": h}
    return list(rows.values())


async def write_index(conn: AsyncConnection, repo_id: str, metadata: RepoMetadata | None) -> None:
    await conn.execute(delete(repo_metadata).where(repo_metadata.c.repo_id == repo_id))
    rows = index_rows(repo_id, metadata)
    if rows:
        await conn.execute(insert(repo_metadata), rows)


def parse_filter(raw: str | None) -> RepoMetadata:
    """Parse the ``filter_metadata`` query parameter (a JSON object) or answer 422."""
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(f"filter_metadata is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput("filter_metadata nests too deeply: it is a flat JSON object") from exc
    if not isinstance(parsed, dict):
        raise InvalidInput('filter_metadata must be a JSON object, e.g. {"project": "era5"}')
    for key, value in parsed.items():
        items = value if isinstance(value, list) else [value]
        if any(isinstance(x, dict | list) for x in items):
            raise InvalidInput(f"filter_metadata[{key!r}] must be a scalar or a list of scalars")
    try:
        return validate_metadata(parsed) or {}
    except ValueError as exc:
        raise InvalidInput(f"filter_metadata: {exc}") from exc


def filter_clauses(filters: RepoMetadata) -> list[ColumnElement[bool]]:
    """WHERE clauses (over ``repos``) that keep repos matching every pair of ``filters``."""
    return [
        exists(
            select(repo_metadata.c.repo_id).where(
                repo_metadata.c.repo_id == repos.c.id,
                repo_metadata.c.key == key,
                repo_metadata.c.value_hash == value_hash(value),
            )
        )
        for key, value in filters.items()
    ]
