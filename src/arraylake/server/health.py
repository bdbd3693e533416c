"""Probes for load balancers and Kubernetes: ``/health`` (liveness) and ``/ready`` (readiness)."""

from __future__ import annotations

import asyncio
from functools import cache

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from arraylake.server.db.migrate import head_revision
from arraylake.server.db.outages import is_unavailable
from arraylake.server.deps import Ctx
from arraylake.server.errors import ServiceUnavailable
from arraylake.server.logs import get_logger

READY_TIMEOUT_SECONDS = 3.0
router = APIRouter(tags=["meta"])
log = get_logger("arraylake.server.health")
_schema_head = cache(head_revision)


class Health(BaseModel):
    status: str = "ok"


class Readiness(BaseModel):
    status: str = "ready"
    schema_revision: str


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Liveness: the process answers. Touches nothing else, so a slow database never gets it restarted."""
    return Health()


@router.get("/ready", response_model=Readiness, responses={503: {"description": "not ready; see detail"}})
async def ready(ctx: Ctx) -> Readiness:
    """Readiness: the catalog database answers (within a few seconds) and its schema is the one this
    service needs; otherwise 503 with a detail that says which."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), ctx.reader.connect() as conn:
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except TimeoutError:
        raise ServiceUnavailable(
            f"not ready: the catalog database did not answer within {READY_TIMEOUT_SECONDS:g} s"
        ) from None
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        log.warning("not ready: catalog database unavailable", error=type(exc).__name__)
        raise ServiceUnavailable("not ready: the catalog database is unavailable") from None
    needed = _schema_head()
    if current != needed:
        raise ServiceUnavailable(
            f"not ready: the catalog schema is at {current}, this service needs {needed}: "
            "run `arraylake server migrate`"
        )
    return Readiness(schema_revision=needed or "")
