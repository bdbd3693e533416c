"""Creating the async engine of the catalog, with the per-backend settings it needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from arraylake.server.private_files import private_file


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed during a write; busy_timeout makes writers queue instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``)."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            # SQLite gives its -wal and -shm files the mode of the database file: all three stay private.
            private_file(Path(database))
        engine = create_async_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=False)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=10,
        # No ping per checkout (a round trip per request): a dropped connection fails one request with 503
        # and is replaced, which is how the service rides out a database restart.
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"timeout": 10, "command_timeout": 30},
    )


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine for reads. On PostgreSQL the same pool without transactions (no BEGIN and ROLLBACK round
    trips); SQLite has no round trips, and switching its connections to autocommit costs more."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")
