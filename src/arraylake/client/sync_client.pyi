"""Type stub of ``arraylake.client.sync_client``: do not edit, run ``python -m arraylake.client.stubgen``.

``Client`` makes its methods from ``AsyncClient``'s coroutines when the class is created; this stub
shows them to type checkers and editors, which do not run that code.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import icechunk

from arraylake.client.async_client import AsyncClient
from arraylake.client.base import IcechunkRepository, OpenedRepo, RepoConfig
from arraylake.client.compute import ComputeClient
from arraylake.client.maintenance import KEEP, _Keep
from arraylake.repos.v1.migrate import MigrationProgress, MigrationReport
from arraylake.types import (
    ApiClientCreated,
    ApiClientInfo,
    ApiClientResponse,
    ApiTokenCreated,
    ApiTokenInfo,
    BucketCheckReport,
    BucketResponse,
    DeviceAuthorizationResponse,
    OrgActions,
    OrgMember,
    OrgResponse,
    OrgRole,
    PaginatedRepos,
    RepoActions,
    RepoGrant,
    RepoKind,
    RepoMetadata,
    RepoModel,
    StorageBinding,
    UserInfo,
)
from arraylake.types.audit import AuditEntry, AuditVerification
from arraylake.types.maintenance import (
    MaintenanceRun,
    OptimizationConfig,
    OptimizationWindow,
    RepoMaintenance,
)

class Client:
    """Client for an Arraylake service (synchronous)."""

    aclient: AsyncClient
    service_uri: str
    token: str | None
    def __init__(self, service_uri: str | None = None, token: str | None = None) -> None: ...
    def __repr__(self) -> str: ...
    def add_org_member(self, org: str, principal: str, *, role: OrgRole | str = OrgRole.MEMBER) -> OrgMember:
        """Add a user (by email or id), or one of the org's API clients (by id), with a role."""
    def check_bucket_config(self, *, org: str, nickname: str) -> BucketCheckReport:
        """Check that a bucket config works: the service lists, writes, reads, writes-if-absent and
        deletes a scratch key under its prefix with the credentials clients would receive (write access),
        removes it, and reports each capability with the cause of any failure."""
    def containers_credentials_for_buckets(
        self, org: str, containers_to_buckets_map: dict[str, str] | None = None, **kwargs: str
    ) -> dict[str, Any]:
        """Credentials for virtual chunk containers, from container URL prefix -> bucket nickname."""
    def create_api_client(
        self,
        org: str,
        name: str,
        *,
        role: OrgRole | str = OrgRole.REPO_READER,
        expires_in_days: float | None = None,
    ) -> ApiClientCreated:
        """Create an API client (service account) with a role, and its first token (shown only now)."""
    def create_api_token(
        self, org: str, client_id: str, *, name: str = "", expires_in_days: float | None = None
    ) -> ApiTokenCreated:
        """A new token for an API client (to rotate tokens), shown only now."""
    def create_bucket_config(
        self,
        *,
        org: str,
        nickname: str,
        uri: str,
        extra_config: dict | None = None,
        auth_config: dict | None = None,
    ) -> BucketResponse:
        """Create a bucket config: where an org's repos may keep their data."""
    def create_org(
        self, name: str, *, display_name: str | None = None, description: str | None = None
    ) -> OrgResponse:
        """Create an org; the caller (a user) becomes its admin."""
    def create_repo(
        self,
        name: str,
        *,
        checkout: bool | None = None,
        bucket_config_nickname: str | None = None,
        kind: RepoKind | None = None,
        prefix: str | None = None,
        config: RepoConfig = None,
        virtual_container_nicknames: dict[str, str] | None = None,
        description: str | None = None,
        metadata: RepoMetadata | None = None,
    ) -> OpenedRepo:
        """Create a new repo: an Icechunk repo (its catalog entry and the Icechunk repository in the bucket),
        or a legacy V1 repo (``kind="v1"``), returned checked out at ``main``."""
    def delete_bucket_config(
        self, *, org: str, nickname: str, imsure: bool = False, imreallysure: bool = False
    ) -> None:
        """Delete a bucket config. Refused while repos use it; the bucket itself is not touched."""
    def delete_repo(
        self,
        name: str,
        *,
        imsure: bool = False,
        imreallysure: bool = False,
        immediate: bool = True,
        retain_data: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Delete a repo."""
    def get_api_client_from_token(self, org: str, token: str) -> ApiClientResponse:
        """The API client of ``org`` that ``token`` belongs to (org admins only)."""
    def get_api_client_id_from_token(self, org: str, token: str) -> str:
        """Fetch the id of the API client that ``token`` belongs to."""
    def get_bucket_config(self, *, org: str, nickname: str) -> BucketResponse:
        """Get a bucket config by nickname."""
    def get_icechunk_container_credentials_from_bucket(self, org: str, bucket_config_nickname: str) -> Any:
        """Icechunk credentials for reading virtual chunks stored in a bucket."""
    def get_icechunk_storage(self, name: str, credentials_override: Any = None) -> icechunk.Storage:
        """The ``icechunk.Storage`` of a repo, to use Icechunk directly."""
    def get_maintenance(self, name: str) -> RepoMaintenance:
        """A repo's maintenance: its own policy, what applies and where each part comes from (repo, org or
        service), when the next window opens, the last run and the repo's size."""
    def get_maintenance_run(self, name: str, run_id: str) -> MaintenanceRun:
        """One maintenance run of a repo, with its report once it has ended."""
    def get_or_create_repo(
        self,
        name: str,
        *,
        checkout: bool | None = None,
        bucket_config_nickname: str | None = None,
        kind: RepoKind | None = None,
        prefix: str | None = None,
        config: RepoConfig = None,
        virtual_container_nicknames: dict[str, str] | None = None,
        description: str | None = None,
        metadata: RepoMetadata | None = None,
    ) -> OpenedRepo:
        """Get a repo by name, creating it if it doesn't exist yet."""
    def get_org_maintenance(self, org: str) -> OptimizationConfig:
        """An org's default maintenance policy: what its repos use for the parts they leave unset."""
    def get_permission_check(
        self, org: str, principal_id: str, resource: str, action: OrgActions | RepoActions | str
    ) -> bool:
        """Whether the principal may perform ``action`` on ``resource``."""
    def get_repo(
        self,
        name: str,
        *,
        checkout: bool | None = None,
        read_only: bool | None = None,
        config: RepoConfig = None,
        virtual_container_nicknames: dict[str, str] | None = None,
    ) -> OpenedRepo:
        """Get a repo by name, opened as an ``icechunk.Repository`` (or, for a legacy V1 repo, as an
        :class:`arraylake.repos.v1.AsyncRepo`; a ``Repo`` from the synchronous client)."""
    def get_repo_object(self, name: str) -> RepoModel:
        """Get the repo configuration object (see :meth:`get_repo` for an opened repo)."""
    def get_services(self, org: str) -> ComputeClient:
        """The compute services of an org: enable, list, inspect, resize and disable the deployments that
        serve its repos over EDR, WMS, Tiles, DAP2 or Zarr (sharing this client's connection and login)."""
    def get_storage_binding(self, org: str) -> StorageBinding:
        """What binds the org's delegated storage to it (org admins): the external id that the trust
        policy of every AWS role the org registers must require, the label of its GCS buckets and the
        metadata of its Azure containers. The service generates it; until a bucket is bound, it vends
        nothing there."""
    def get_user(self) -> UserInfo | ApiTokenInfo:
        """Who the client acts as: a user, or an API client."""
    def grant_repo_access(
        self, name: str, principal: str, actions: list[RepoActions | str]
    ) -> list[RepoGrant]:
        """Grant actions on one repo to a user (email or id) or an API client of the org."""
    def import_repo(
        self,
        name: str,
        *,
        bucket_config_nickname: str,
        prefix: str,
        description: str | None = None,
        metadata: RepoMetadata | None = None,
        config: RepoConfig = None,
    ) -> IcechunkRepository:
        """Register an Icechunk repository that already exists in a bucket, and open it."""
    def list_api_clients(self, org: str) -> list[ApiClientInfo]:
        """The org's API clients and their tokens' metadata (never the tokens)."""
    def list_audit_entries(
        self,
        org: str | None = None,
        *,
        principal: str | None = None,
        repo: str | None = None,
        action: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Audit log entries, newest first: sign-ins, tokens, roles and grants, bucket configs, credential
        vends, repo lifecycle, compute services, maintenance runs."""
    def list_bucket_configs(self, org: str) -> list[BucketResponse]:
        """List the org's bucket configs."""
    def list_maintenance_runs(self, name: str, limit: int = 20) -> list[MaintenanceRun]:
        """A repo's maintenance runs, newest first: when, what they expired and reclaimed, their errors."""
    def list_org_members(self, org: str) -> list[OrgMember]:
        """The org's members (users and API clients) and their roles."""
    def list_orgs(self) -> list[OrgResponse]:
        """The orgs the caller is a member of."""
    def list_repo_grants(self, name: str) -> list[RepoGrant]:
        """Who holds which actions on a repo, beyond their org roles."""
    def list_repos(
        self, org: str, *, filter_metadata: RepoMetadata | None = None, include_deleted: bool = False
    ) -> Sequence[RepoModel]:
        """List all repositories for the specified org."""
    def list_repos_for_bucket_config(self, *, org: str, nickname: str) -> list[RepoModel]:
        """List the repos that keep their data in this bucket config."""
    def list_repos_paginated(
        self,
        org: str,
        *,
        page: int = 1,
        page_size: int = 50,
        filter_metadata: RepoMetadata | None = None,
        after: str | None = None,
        include_deleted: bool = False,
    ) -> PaginatedRepos:
        """One page of the org's repos, ordered by name."""
    def login(
        self, *, browser: bool = False, on_code: Callable[[DeviceAuthorizationResponse], None] | None = None
    ) -> None:
        """Log in to the service as a user (OAuth device flow); the login is saved for later clients."""
    def logout(self) -> None:
        """End the saved login: revoked on the service, removed from disk."""
    def migrate_v1_repo(
        self,
        name: str,
        *,
        to: str | None = None,
        bucket_config_nickname: str | None = None,
        verify: bool = True,
        on_progress: Callable[[MigrationProgress], None] | None = None,
    ) -> MigrationReport:
        """Copy a legacy V1 repo, with its history, into a new Icechunk repo (the V1 repo stays as it is)."""
    def modify_bucket_config(
        self,
        *,
        org: str,
        nickname: str,
        new_nickname: str | None = None,
        extra_config: dict | None = None,
        auth_config: dict | None = None,
    ) -> BucketResponse:
        """Change a bucket config's nickname, extra config or auth config (the location stays fixed)."""
    def modify_repo(
        self,
        name: str,
        *,
        description: str | None = None,
        add_metadata: RepoMetadata | None = None,
        remove_metadata: Sequence[str] | None = None,
        update_metadata: RepoMetadata | None = None,
        optimization_config: OptimizationConfig | None = None,
    ) -> RepoModel:
        """Change a repo's description or metadata (writers may), all at once or not at all."""
    def remove_org_member(self, org: str, principal: str) -> None:
        """Remove a member from the org. An org always keeps at least one admin."""
    def restore_repo(self, name: str) -> RepoModel:
        """Bring back a repo deleted with ``immediate=False``, with its data, before the service's grace
        period ends (see ``list_repos(org, include_deleted=True)``). Org admins and holders of
        ``CAN_MANAGE_USERS`` on the repo may."""
    def revoke_api_client(self, org: str, client_id: str) -> None:
        """Disable an API client and revoke all its tokens."""
    def revoke_api_token(self, org: str, client_id: str, token_id: str) -> None:
        """Revoke one token of an API client."""
    def revoke_repo_access(
        self, name: str, principal: str, actions: list[RepoActions | str] | None = None
    ) -> list[RepoGrant]:
        """Take back granted actions on a repo (all of them when ``actions`` is ``None``)."""
    def run_maintenance(
        self, name: str, *, dry_run: bool = False, wait: bool = True, timeout: float | None = 3600
    ) -> MaintenanceRun:
        """Run a repo's maintenance now, outside its window, with the policy that applies to it."""
    def set_default_bucket_config(self, *, org: str, nickname: str) -> None:
        """Make this bucket config the org's default for new repos."""
    def set_maintenance(
        self,
        name: str,
        *,
        window: str | OptimizationWindow | _Keep | None = KEEP,
        expiration: bool | _Keep | None = KEEP,
        expire_older_than: timedelta | _Keep = KEEP,
        gc: bool | _Keep | None = KEEP,
        gc_margin: timedelta | _Keep = KEEP,
        extra_roots: Iterable[str] | _Keep = KEEP,
        reset: bool = False,
        config: OptimizationConfig | None = None,
    ) -> RepoMaintenance:
        """Change a repo's maintenance policy (needs the right to manage the repo: expiration removes
        history for good). Arguments not given keep their current value."""
    def set_org_maintenance(
        self,
        org: str,
        *,
        window: str | OptimizationWindow | _Keep | None = KEEP,
        expiration: bool | _Keep | None = KEEP,
        expire_older_than: timedelta | _Keep = KEEP,
        gc: bool | _Keep | None = KEEP,
        gc_margin: timedelta | _Keep = KEEP,
        extra_roots: Iterable[str] | _Keep = KEEP,
        reset: bool = False,
        config: OptimizationConfig | None = None,
    ) -> OptimizationConfig:
        """Change an org's default maintenance policy (its admins may). Arguments not given keep their
        current value; they mean what they mean for :meth:`set_maintenance`, and ``None`` (or ``reset``)
        falls back to the service's defaults (its window; expiration and GC off)."""
    def set_org_member_role(self, org: str, principal: str, role: OrgRole | str) -> OrgMember:
        """Change a member's role. An org always keeps at least one admin."""
    def verify_audit_log(self, org: str | None = None) -> AuditVerification:
        """Verify that nobody changed, removed or reordered audit entries: every entry's hash, the chain of
        hashes, and the service's signed checkpoints."""
