"""The synchronous client: :class:`Client`, a facade that runs :class:`AsyncClient` on a background loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arraylake._sync import blocking, run_sync
from arraylake.client.async_client import AsyncClient

if TYPE_CHECKING:
    from arraylake.client.base import IcechunkRepository, RepoConfig


class Client:
    """Client for an Arraylake service (synchronous).

    Every method of :class:`AsyncClient`, run to completion on a background event loop, so this works in
    scripts and inside Jupyter's running loop alike.

    Args:
        service_uri: The service to talk to. Defaults to the ``service.uri`` config key
            (``ARRAYLAKE_SERVICE__URI``).
        token: An API token (``ema_...``). Defaults to the ``token`` config key (``ARRAYLAKE_TOKEN``);
            without one, the client uses the login saved by :meth:`login`.
    """

    def __init__(self, service_uri: str | None = None, token: str | None = None):
        self.aclient = AsyncClient(service_uri, token)
        self.service_uri = self.aclient.service_uri
        self.token = self.aclient.token

    def __repr__(self) -> str:
        return f"Client(service_uri={self.service_uri!r})"

    # repos
    list_repos = blocking(AsyncClient.list_repos)
    list_repos_paginated = blocking(AsyncClient.list_repos_paginated)
    get_repo_object = blocking(AsyncClient.get_repo_object)

    def get_repo(
        self,
        name: str,
        *,
        checkout: bool | None = None,
        read_only: bool | None = None,
        config: RepoConfig = None,
        virtual_container_nicknames: dict[str, str] | None = None,
    ) -> IcechunkRepository:
        # Every job opens its repo here, so the common case runs in the caller's thread.
        if virtual_container_nicknames:
            return run_sync(
                self.aclient.get_repo(
                    name,
                    checkout=checkout,
                    read_only=read_only,
                    config=config,
                    virtual_container_nicknames=virtual_container_nicknames,
                )
            )
        return self.aclient.get_repo_blocking(name, read_only=read_only, config=config)

    get_repo.__doc__ = AsyncClient.get_repo.__doc__
    get_or_create_repo = blocking(AsyncClient.get_or_create_repo)
    create_repo = blocking(AsyncClient.create_repo)
    import_repo = blocking(AsyncClient.import_repo)
    get_icechunk_storage = blocking(AsyncClient.get_icechunk_storage)
    delete_repo = blocking(AsyncClient.delete_repo)
    restore_repo = blocking(AsyncClient.restore_repo)
    modify_repo = blocking(AsyncClient.modify_repo)
    # virtual chunk containers
    get_icechunk_container_credentials_from_bucket = blocking(
        AsyncClient.get_icechunk_container_credentials_from_bucket
    )
    containers_credentials_for_buckets = blocking(AsyncClient.containers_credentials_for_buckets)
    # bucket configs
    create_bucket_config = blocking(AsyncClient.create_bucket_config)
    modify_bucket_config = blocking(AsyncClient.modify_bucket_config)
    set_default_bucket_config = blocking(AsyncClient.set_default_bucket_config)
    check_bucket_config = blocking(AsyncClient.check_bucket_config)
    get_storage_binding = blocking(AsyncClient.get_storage_binding)
    get_bucket_config = blocking(AsyncClient.get_bucket_config)
    list_bucket_configs = blocking(AsyncClient.list_bucket_configs)
    list_repos_for_bucket_config = blocking(AsyncClient.list_repos_for_bucket_config)
    delete_bucket_config = blocking(AsyncClient.delete_bucket_config)
    # login
    login = blocking(AsyncClient.login)
    logout = blocking(AsyncClient.logout)
    # identity and access
    get_user = blocking(AsyncClient.get_user)
    list_orgs = blocking(AsyncClient.list_orgs)
    create_org = blocking(AsyncClient.create_org)
    list_org_members = blocking(AsyncClient.list_org_members)
    add_org_member = blocking(AsyncClient.add_org_member)
    set_org_member_role = blocking(AsyncClient.set_org_member_role)
    remove_org_member = blocking(AsyncClient.remove_org_member)
    list_repo_grants = blocking(AsyncClient.list_repo_grants)
    grant_repo_access = blocking(AsyncClient.grant_repo_access)
    revoke_repo_access = blocking(AsyncClient.revoke_repo_access)
    create_api_client = blocking(AsyncClient.create_api_client)
    list_api_clients = blocking(AsyncClient.list_api_clients)
    revoke_api_client = blocking(AsyncClient.revoke_api_client)
    create_api_token = blocking(AsyncClient.create_api_token)
    revoke_api_token = blocking(AsyncClient.revoke_api_token)
    get_api_client_from_token = blocking(AsyncClient.get_api_client_from_token)
    get_api_client_id_from_token = blocking(AsyncClient.get_api_client_id_from_token)
    get_permission_check = blocking(AsyncClient.get_permission_check)

    def get_services(self, org: str) -> Any:
        """The compute services of an org."""
        return self.aclient.get_services(org)
