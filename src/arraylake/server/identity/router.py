"""``/user`` endpoints: who am I (the orgs I am in are in :mod:`arraylake.server.orgs.router`)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from arraylake.server.deps import CurrentPrincipal
from arraylake.server.identity.principals import PrincipalKind, user_info
from arraylake.types import ApiTokenInfo, UserInfo

router = APIRouter(tags=["identity"])


@router.get("/user", response_model=UserInfo | ApiTokenInfo)
async def get_user(principal: CurrentPrincipal) -> Any:
    """The caller: a user (with ``first_name``) or an API client."""
    if principal.kind == PrincipalKind.USER:
        return user_info(principal)
    expires = principal.token_expires_at
    return ApiTokenInfo(
        id=uuid.UUID(principal.id),
        client_id=principal.id,
        email=principal.email,
        expiration=int(expires.timestamp()) if expires else 0,
    )


@router.post("/user/diagnostics", status_code=204)
async def post_diagnostics(principal: CurrentPrincipal) -> Response:
    """Accepted and ignored: this service keeps no client telemetry."""
    return Response(status_code=204)
