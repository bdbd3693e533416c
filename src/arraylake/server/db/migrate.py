"""Bringing the catalog schema up to date with Alembic, on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "arraylake.server.db:migrations")
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""

    def read(connection: Any) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def pending_revisions(engine: AsyncEngine) -> list[str]:
    """The revisions an upgrade to head would apply, oldest first."""
    current = await current_revision(engine)
    script = ScriptDirectory.from_config(alembic_config())
    steps = script.iterate_revisions(script.get_current_head(), current)
    return [step.revision for step in reversed(list(steps))]


async def upgrade(
    engine: AsyncEngine, revision: str = "head", on_step: Callable[[str], None] | None = None
) -> None:
    """Apply every pending migration; ``on_step`` is called with each revision once it is applied."""
    cfg = alembic_config()

    def applied(*, step: Any, **_: Any) -> None:
        if on_step is not None:
            on_step(step.up_revision_id or "")

    def run(connection: Any) -> None:
        cfg.attributes["connection"] = connection
        cfg.attributes["on_version_apply"] = applied
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


class CatalogNotReady(RuntimeError):
    """The catalog database is missing or at another schema revision."""


async def check_schema(engine: AsyncEngine) -> None:
    """Raise :class:`CatalogNotReady` unless the catalog is at this code's schema revision."""
    current, head = await current_revision(engine), head_revision()
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise CatalogNotReady(f"the catalog at {where} is empty: run `arraylake server init` first")
    if current != head:
        raise CatalogNotReady(
            f"the catalog schema is at {current}, this service needs {head}: run `arraylake server migrate`"
        )
