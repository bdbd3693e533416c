"""Statements that differ by backend: inserts that resolve a key conflict in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_on_conflict(conn: AsyncConnection, table: Table) -> Any:
    """An ``INSERT`` with ``on_conflict_do_nothing`` / ``on_conflict_do_update`` for this backend."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
