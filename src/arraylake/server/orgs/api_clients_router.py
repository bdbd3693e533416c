"""``/orgs/{org}/api-clients``: an org's API clients and their tokens, and looking up whose a token is."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from arraylake.server.deps import MemberManager
from arraylake.server.orgs import api_clients
from arraylake.types import (
    ApiClientCreated,
    ApiClientCreateRequest,
    ApiClientInfo,
    ApiClientResponse,
    ApiTokenCreated,
    ApiTokenCreateRequest,
    OrgRole,
)

router = APIRouter(tags=["access"])


# Before /api-clients/{client_id}, which would take "authenticate" for an id.
@router.get("/orgs/{org}/api-clients/authenticate", response_model=ApiClientResponse)
async def authenticate_token(
    call: MemberManager, token: str = Query(description="The API token to look up")
) -> ApiClientResponse:
    """The API client of this org that a token belongs to (404 unless it is valid and of this org)."""
    async with call.ctx.reader.connect() as conn:
        return await api_clients.lookup_token(conn, call.member, token)


@router.get("/orgs/{org}/api-clients", response_model=list[ApiClientInfo])
async def list_api_clients(call: MemberManager) -> list[ApiClientInfo]:
    """The org's API clients (service accounts) and their tokens (never the tokens themselves)."""
    async with call.ctx.reader.connect() as conn:
        return await api_clients.list_api_clients(conn, call.member)


@router.post("/orgs/{org}/api-clients", response_model=ApiClientCreated, status_code=201)
async def new_api_client(body: ApiClientCreateRequest, call: MemberManager) -> ApiClientCreated:
    """Create an API client with a role and a first token (shown once)."""
    async with call.ctx.engine.begin() as conn:
        return await api_clients.new_api_client(
            conn,
            call.member,
            name=body.name,
            role=OrgRole(body.role),
            expires_in_days=body.expires_in_days,
            actor=call.principal,
        )


@router.get("/orgs/{org}/api-clients/{client_id}", response_model=ApiClientInfo)
async def get_api_client(client_id: str, call: MemberManager) -> ApiClientInfo:
    """One API client of the org and its tokens."""
    async with call.ctx.reader.connect() as conn:
        return await api_clients.api_client(conn, call.member, client_id)


@router.delete("/orgs/{org}/api-clients/{client_id}", status_code=204)
async def revoke_api_client(client_id: str, call: MemberManager) -> Response:
    """Disable an API client and revoke all its tokens."""
    async with call.ctx.engine.begin() as conn:
        await api_clients.revoke_api_client(conn, call.member, client_id, actor=call.principal)
    return Response(status_code=204)


@router.post("/orgs/{org}/api-clients/{client_id}/tokens", response_model=ApiTokenCreated, status_code=201)
async def new_api_token(body: ApiTokenCreateRequest, client_id: str, call: MemberManager) -> ApiTokenCreated:
    """Add a token to an API client (e.g. to rotate tokens); shown once."""
    async with call.ctx.engine.begin() as conn:
        return await api_clients.new_api_token(
            conn,
            call.member,
            client_id,
            name=body.name,
            expires_in_days=body.expires_in_days,
            actor=call.principal,
        )


@router.delete("/orgs/{org}/api-clients/{client_id}/tokens/{token_id}", status_code=204)
async def revoke_api_token(client_id: str, token_id: str, call: MemberManager) -> Response:
    """Revoke one token of an API client."""
    async with call.ctx.engine.begin() as conn:
        await api_clients.revoke_api_token(conn, call.member, client_id, token_id, actor=call.principal)
    return Response(status_code=204)
