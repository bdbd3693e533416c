"""``/user`` endpoints: who am I, which orgs am I in."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select

from arraylake.server.context import AppContext, app_context, current_principal
from arraylake.server.db.schema import orgs
from arraylake.server.identity.principals import Principal, PrincipalKind
from arraylake.types import ApiTokenInfo, OrgResponse, UserInfo

router = APIRouter(tags=["identity"])


@router.get("/user", response_model=UserInfo | ApiTokenInfo)
async def get_user(principal: Principal = Depends(current_principal)) -> Any:
    """The caller: a user (with ``first_name``) or an API client."""
    if principal.kind == PrincipalKind.USER:
        return UserInfo(
            id=uuid.UUID(principal.id),
            first_name=principal.first_name,
            family_name=principal.family_name,
            email=principal.email,
        )
    expires = principal.token_expires_at
    return ApiTokenInfo(
        id=uuid.UUID(principal.id),
        client_id=principal.id,
        email=principal.email,
        expiration=int(expires.timestamp()) if expires else 0,
    )


@router.post("/user/diagnostics", status_code=204)
async def post_diagnostics(principal: Principal = Depends(current_principal)) -> Response:
    """Accepted and ignored: this service keeps no client telemetry."""
    return Response(status_code=204)


@router.get("/user/orgs", response_model=list[OrgResponse])
async def list_my_orgs(
    principal: Principal = Depends(current_principal), ctx: AppContext = Depends(app_context)
) -> list[OrgResponse]:
    """The orgs the caller belongs to."""
    ids = [m.org_id for m in principal.memberships.values()]
    if not ids:
        return []
    async with ctx.reader.connect() as conn:
        rows = (await conn.execute(select(orgs).where(orgs.c.id.in_(ids)).order_by(orgs.c.name))).all()
    return [
        OrgResponse(
            id=r.id,
            name=r.name,
            display_name=r.display_name,
            description=r.description,
            created=r.created,
            created_by=r.created_by,
        )
        for r in rows
    ]
