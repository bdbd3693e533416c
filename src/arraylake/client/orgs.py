"""Managing who may do what: orgs, members and roles, repo grants, API clients and their tokens.

These are methods of :class:`arraylake.AsyncClient` (and, synchronously, :class:`arraylake.Client`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from arraylake.client.transport import Transport
from arraylake.names import parse_repo_name, validate_org_name
from arraylake.types import (
    ApiClientCreated,
    ApiClientInfo,
    ApiClientResponse,
    ApiTokenCreated,
    ApiTokenInfo,
    OrgActions,
    OrgMember,
    OrgResponse,
    OrgRole,
    RepoActions,
    RepoGrant,
    UserInfo,
)


def _who(principal: str) -> str:
    return quote(principal.strip(), safe="@")


class OrgMethods:
    """Org and access management, on top of the client's transport."""

    _transport: Transport

    async def get_user(self) -> UserInfo | ApiTokenInfo:
        """Who the client acts as: a user, or an API client."""
        body = await self._transport.get_json("/user")
        return UserInfo.model_validate(body) if "first_name" in body else ApiTokenInfo.model_validate(body)

    async def list_orgs(self) -> list[OrgResponse]:
        """The orgs the caller is a member of."""
        return [OrgResponse.model_validate(o) for o in await self._transport.get_json("/user/orgs")]

    async def create_org(
        self, name: str, *, display_name: str | None = None, description: str | None = None
    ) -> OrgResponse:
        """Create an org; the caller (a user) becomes its admin."""
        validate_org_name(name)
        body = {"name": name, "display_name": display_name, "description": description}
        response = await self._transport.request("POST", "/orgs", json_body=body)
        return OrgResponse.model_validate(response.json())

    async def list_org_members(self, org: str) -> list[OrgMember]:
        """The org's members (users and API clients) and their roles."""
        validate_org_name(org)
        return [OrgMember.model_validate(m) for m in await self._transport.get_json(f"/orgs/{org}/members")]

    async def add_org_member(
        self, org: str, principal: str, *, role: OrgRole | str = OrgRole.MEMBER
    ) -> OrgMember:
        """Add a user (by email or id), or one of the org's API clients (by id), with a role."""
        validate_org_name(org)
        body = {"principal": principal, "role": OrgRole(role).value}
        response = await self._transport.request("POST", f"/orgs/{org}/members", json_body=body)
        return OrgMember.model_validate(response.json())

    async def set_org_member_role(self, org: str, principal: str, role: OrgRole | str) -> OrgMember:
        """Change a member's role. An org always keeps at least one admin."""
        validate_org_name(org)
        response = await self._transport.request(
            "PATCH", f"/orgs/{org}/members/{_who(principal)}", json_body={"role": OrgRole(role).value}
        )
        return OrgMember.model_validate(response.json())

    async def remove_org_member(self, org: str, principal: str) -> None:
        """Remove a member from the org. An org always keeps at least one admin."""
        validate_org_name(org)
        await self._transport.request("DELETE", f"/orgs/{org}/members/{_who(principal)}")

    async def list_repo_grants(self, name: str) -> list[RepoGrant]:
        """Who holds which actions on a repo, beyond their org roles."""
        org, repo = parse_repo_name(name)
        return [
            RepoGrant.model_validate(g) for g in await self._transport.get_json(f"/repos/{org}/{repo}/grants")
        ]

    async def grant_repo_access(
        self, name: str, principal: str, actions: list[RepoActions | str]
    ) -> list[RepoGrant]:
        """Grant actions on one repo to a user (email or id) or an API client of the org."""
        org, repo = parse_repo_name(name)
        body = {"principal": principal, "actions": [RepoActions(a).value for a in actions]}
        response = await self._transport.request("POST", f"/repos/{org}/{repo}/grants", json_body=body)
        return [RepoGrant.model_validate(g) for g in response.json()]

    async def revoke_repo_access(
        self, name: str, principal: str, actions: list[RepoActions | str] | None = None
    ) -> list[RepoGrant]:
        """Take back granted actions on a repo (all of them when ``actions`` is ``None``)."""
        org, repo = parse_repo_name(name)
        params = {"action": [RepoActions(a).value for a in actions]} if actions else None
        response = await self._transport.request(
            "DELETE", f"/repos/{org}/{repo}/grants/{_who(principal)}", params=params
        )
        return [RepoGrant.model_validate(g) for g in response.json()]

    async def create_api_client(
        self,
        org: str,
        name: str,
        *,
        role: OrgRole | str = OrgRole.REPO_READER,
        expires_in_days: float | None = None,
    ) -> ApiClientCreated:
        """Create an API client (service account) with a role, and its first token (shown only now)."""
        validate_org_name(org)
        body = {"name": name, "role": OrgRole(role).value, "expires_in_days": expires_in_days}
        response = await self._transport.request("POST", f"/orgs/{org}/api-clients", json_body=body)
        return ApiClientCreated.model_validate(response.json())

    async def list_api_clients(self, org: str) -> list[ApiClientInfo]:
        """The org's API clients and their tokens' metadata (never the tokens)."""
        validate_org_name(org)
        return [
            ApiClientInfo.model_validate(c)
            for c in await self._transport.get_json(f"/orgs/{org}/api-clients")
        ]

    async def revoke_api_client(self, org: str, client_id: str) -> None:
        """Disable an API client and revoke all its tokens."""
        validate_org_name(org)
        await self._transport.request("DELETE", f"/orgs/{org}/api-clients/{_who(client_id)}")

    async def create_api_token(
        self, org: str, client_id: str, *, name: str = "", expires_in_days: float | None = None
    ) -> ApiTokenCreated:
        """A new token for an API client (to rotate tokens), shown only now."""
        validate_org_name(org)
        response = await self._transport.request(
            "POST",
            f"/orgs/{org}/api-clients/{_who(client_id)}/tokens",
            json_body={"name": name, "expires_in_days": expires_in_days},
        )
        return ApiTokenCreated.model_validate(response.json())

    async def revoke_api_token(self, org: str, client_id: str, token_id: str) -> None:
        """Revoke one token of an API client."""
        validate_org_name(org)
        await self._transport.request(
            "DELETE", f"/orgs/{org}/api-clients/{_who(client_id)}/tokens/{_who(token_id)}"
        )

    async def get_api_client_from_token(self, org: str, token: str) -> ApiClientResponse:
        """The API client of ``org`` that ``token`` belongs to (org admins only)."""
        validate_org_name(org)
        body = await self._transport.get_json(
            f"/orgs/{org}/api-clients/authenticate", params={"token": token}
        )
        return ApiClientResponse.model_validate(body)

    async def get_api_client_id_from_token(self, org: str, token: str) -> str:
        """Fetch the id of the API client that ``token`` belongs to."""
        return str((await self.get_api_client_from_token(org, token)).client_id)

    async def get_permission_check(
        self, org: str, principal_id: str, resource: str, action: OrgActions | RepoActions | str
    ) -> bool:
        """Whether the principal may perform ``action`` on ``resource``.

        ``resource`` is the org name for ``OrgActions`` and ``ORG/REPO`` (or ``REPO``) for ``RepoActions``.
        Org admins may ask about anyone; others about themselves.
        """
        validate_org_name(org)
        value = action.value if isinstance(action, OrgActions | RepoActions) else str(action)
        params: dict[str, Any] = {"principal_id": principal_id, "resource": resource, "action": value}
        body = await self._transport.get_json(f"/orgs/{org}/permissions/check", params=params)
        return bool(body["has_permission"])
