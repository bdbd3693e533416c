"""The Arraylake client: :class:`AsyncClient` (the core) and :class:`Client` (its synchronous facade).

Example::

    from arraylake import Client

    client = Client()                      # service_uri and token from configuration
    repo = client.create_repo("my-org/my-repo")
    session = repo.writable_session("main")
    ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from arraylake import login as login_flow
from arraylake import storage as storage_mod
from arraylake._lazy import lazy_module
from arraylake._sync import blocking, run_sync
from arraylake.access import AccessMethods
from arraylake.config import config as _config
from arraylake.credentials import Access, ServiceCredentials, parse_credentials
from arraylake.exceptions import (
    ArraylakeConflictError,
    ArraylakeError,
    ArraylakeNotFoundError,
    BucketNotFoundError,
    FeatureUnavailableError,
    RepoOfflineError,
)
from arraylake.login import LoginAuth
from arraylake.names import parse_repo_name, validate_nickname, validate_org_name, validate_prefix
from arraylake.token_file import read_tokens, write_tokens
from arraylake.transport import Auth, TokenAuth, Transport, TransportSettings
from arraylake.types import (
    AnonymousAuth,
    AuthMethod,
    BucketCheckReport,
    BucketModifyRequest,
    BucketResponse,
    CreateMode,
    DeviceAuthorizationResponse,
    GSCredentials,
    NewBucket,
    OpenRepoResponse,
    PaginatedRepos,
    Platform,
    Repo,
    RepoCreateBody,
    RepoDeletionProgress,
    RepoImportBody,
    RepoKind,
    RepoMetadata,
    RepoModel,
    RepoModifyRequest,
    S3Credentials,
    StorageBinding,
)

if TYPE_CHECKING:
    import icechunk

    RepoConfig = icechunk.RepositoryConfig | None
    IcechunkRepository = icechunk.Repository
else:
    icechunk = lazy_module("icechunk")


def __getattr__(name: str) -> Any:
    # The documented annotation aliases, without importing icechunk with this module.
    if name == "RepoConfig":
        return icechunk.RepositoryConfig | None
    if name == "IcechunkRepository":
        return icechunk.Repository
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_URI_SCHEMES = {
    "s3": Platform.S3,
    "gs": Platform.GS,
    "az": Platform.AZURE,
    "azure": Platform.AZURE,
    "file": Platform.LOCAL,
}
_LIST_PAGE_SIZE = 100
DELETION_POLL_SECONDS = 0.25


def parse_bucket_uri(uri: str, extra_config: Mapping[str, Any] | None) -> tuple[Platform, str, str]:
    """Split ``platform://bucket[/prefix]`` into (platform, bucket name, prefix).

    ``s3://`` with an ``endpoint_url`` in ``extra_config`` means an S3-compatible store; ``file://NAME``
    is a directory named NAME in the service's local storage area.
    """
    if not isinstance(uri, str) or "://" not in uri:
        raise ValueError(
            f"bucket URI must look like s3://bucket[/prefix], gs://..., az://... or file://..., got {uri!r}"
        )
    parts = urlsplit(uri)
    platform = _URI_SCHEMES.get(parts.scheme.lower())
    if platform is None:
        known = ", ".join(f"{s}://" for s in _URI_SCHEMES)
        raise ValueError(f"unsupported bucket URI scheme {parts.scheme!r} in {uri!r}; use one of {known}")
    if parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError(f"bucket URI {uri!r} must not carry credentials, a port, a query or a fragment")
    if not parts.netloc:
        raise ValueError(f"bucket URI {uri!r} names no bucket: expected {parts.scheme}://BUCKET[/PREFIX]")
    if platform == Platform.S3 and extra_config and extra_config.get("endpoint_url"):
        platform = Platform.S3_COMPATIBLE
    prefix = parts.path.strip("/")
    validate_prefix(prefix, what="bucket prefix")
    return platform, parts.netloc, prefix


def _not_yet(what: str, issue: str) -> FeatureUnavailableError:
    return FeatureUnavailableError(f"{what} is not available in this release of Arraylake Open ({issue}).")


class AsyncClient(AccessMethods):
    """Asyncio client for an Arraylake service.

    Args:
        service_uri: The service to talk to. Defaults to the ``service.uri`` config key
            (``ARRAYLAKE_SERVICE__URI``).
        token: An API token (``ema_...``). Defaults to the ``token`` config key (``ARRAYLAKE_TOKEN``);
            without one, the client uses the login saved by :meth:`login`.
    """

    def __init__(self, service_uri: str | None = None, token: str | None = None):
        self.service_uri: str = service_uri or _config.get("service.uri")
        self.token: str | None = token if token is not None else _config.get("token", None)
        if self.token is not None and not str(self.token).startswith(("ema_", "ey")):
            raise ValueError(
                "Arraylake API tokens start with 'ema_'; check the token you passed or configured"
            )
        self._login = LoginAuth(self.service_uri)
        auth: Auth = TokenAuth(self.token) if self.token else self._login
        self._transport = Transport(self.service_uri, auth, TransportSettings.from_config())

    def __repr__(self) -> str:
        return f"AsyncClient(service_uri={self.service_uri!r})"

    async def aclose(self) -> None:
        """Close this loop's HTTP connections."""
        await self._transport.aclose()

    # ------------------------------------------------------------------------------------------------ repos

    async def list_repos(
        self, org: str, *, filter_metadata: RepoMetadata | None = None, include_deleted: bool = False
    ) -> Sequence[RepoModel]:
        """List all repositories for the specified org.

        Args:
            org: Name of the org.
            filter_metadata: Only repos whose metadata holds every given key/value pair (a list-valued
                metadata entry matches a scalar it contains).
            include_deleted: Also list soft-deleted repos that can still be restored (for those who may
                list all of the org's repos); theirs are ``deleted_at``, ``deleted_by_email`` and
                ``restorable_until``, after which the service removes them and their data.
        """
        repos: list[Repo] = []
        page = 1
        while True:
            result = await self.list_repos_paginated(
                org,
                page=page,
                page_size=_LIST_PAGE_SIZE,
                filter_metadata=filter_metadata,
                include_deleted=include_deleted,
            )
            repos.extend(result.items)
            if page >= result.pages:
                return repos
            page += 1

    async def list_repos_paginated(
        self,
        org: str,
        *,
        page: int = 1,
        page_size: int = 50,
        filter_metadata: RepoMetadata | None = None,
        after: str | None = None,
        include_deleted: bool = False,
    ) -> PaginatedRepos:
        """One page of the org's repos, ordered by name.

        Args:
            org: The org.
            page: The page number (from 1). A deep page costs about as much as the first while the org's
                list is unchanged; right after a change, and in filtered listings, it costs more (the
                cursor ``after`` never does).
            page_size: Repos per page.
            filter_metadata: Only repos whose metadata matches every pair.
            after: A cursor instead of ``page``: the repos after this name (the last name of the previous
                page). Every page then costs the same, at any depth; the answer's ``page`` is 0.
            include_deleted: Also list restorable soft-deleted repos (see :meth:`list_repos`); not with
                ``after``.
        """
        validate_org_name(org)
        params: dict[str, Any] = {"page": page, "size": page_size}
        if after is not None:
            params["after"] = after
        if include_deleted:
            params["include_ghosts"] = "true"
        if filter_metadata:
            params["filter_metadata"] = _json(filter_metadata)
        body = await self._transport.get_json(f"/orgs/{org}/repos/paginated", params=params)
        return PaginatedRepos.model_validate(body)

    async def get_repo_object(self, name: str) -> RepoModel:
        """Get the repo configuration object (see :meth:`get_repo` for an opened repo).

        Args:
            name: Full name of the repo, ``ORG/REPO``.
        """
        org, repo = parse_repo_name(name)
        return Repo.model_validate(await self._transport.get_json(f"/repos/{org}/{repo}"))

    async def _open_info(self, org: str, repo: str, access: Access | None = None) -> OpenRepoResponse:
        params = {"access": access} if access else None
        body = await self._transport.get_json(f"/repos/{org}/{repo}/open", params=params)
        return OpenRepoResponse.model_validate(body)

    def _service_credentials(self, path: str, access: Access | None) -> ServiceCredentials:
        return ServiceCredentials(self.service_uri, path, access, self.token)

    def _storage(
        self, bucket: BucketResponse, prefix: str, credentials: Any, refresh: ServiceCredentials
    ) -> icechunk.Storage:
        """Storage with static credentials, or, when they expire, refreshed from the service as needed."""
        if isinstance(credentials, S3Credentials | GSCredentials) and credentials.expiration is not None:
            refresh.seed(credentials)
            scatter = bool(_config.get("icechunk.scatter_initial_credentials", True))
            return storage_mod.icechunk_storage(
                bucket, prefix, get_credentials=refresh, scatter_initial_credentials=scatter
            )
        return storage_mod.icechunk_storage(bucket, prefix, credentials)

    async def get_repo(
        self,
        name: str,
        *,
        checkout: bool | None = None,
        read_only: bool | None = None,
        config: RepoConfig = None,
        virtual_container_nicknames: dict[str, str] | None = None,
    ) -> IcechunkRepository:
        """Get a repo by name, opened as an ``icechunk.Repository``.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            checkout: Ignored for Icechunk repos (sessions are opened from the returned repository).
            read_only: Accepted for compatibility; open a read-only session with ``repo.readonly_session``.
            config: An ``icechunk.RepositoryConfig`` whose settings take precedence over the stored ones.
            virtual_container_nicknames: Virtual chunk container (name or URL prefix) -> bucket nickname;
                credentials for those buckets are fetched and handed to Icechunk.
        """
        org, repo_name = parse_repo_name(name)
        access: Access | None = "read" if read_only else None
        info = await self._open_info(org, repo_name, access)
        storage, authorize = self._open_arguments(name, org, repo_name, info, access)
        containers = storage_mod.granted_containers(info.virtual_chunk_credentials)
        if virtual_container_nicknames:
            stored = await icechunk.Repository.fetch_config_async(storage)
            chosen, chosen_containers = await self._container_credentials_for_config(
                org, virtual_container_nicknames, [stored, config]
            )
            authorize = {**(authorize or {}), **chosen}
            containers += chosen_containers
        repo = await icechunk.Repository.open_async(
            storage,
            config=storage_mod.with_containers(config, containers),
            authorize_virtual_chunk_access=authorize,
        )
        _set_author(repo, info)
        return repo

    def get_repo_blocking(
        self, name: str, *, read_only: bool | None = None, config: RepoConfig = None
    ) -> IcechunkRepository:
        """:meth:`get_repo` (without virtual container nicknames) in the caller's thread, without the event
        loop: the synchronous ``Client`` opens repos this way, sparing two hand-overs between threads."""
        org, repo_name = parse_repo_name(name)
        access: Access | None = "read" if read_only else None
        params = {"access": access} if access else None
        response = self._transport.request_blocking("GET", f"/repos/{org}/{repo_name}/open", params=params)
        info = OpenRepoResponse.model_validate_json(response.content)
        storage, authorize = self._open_arguments(name, org, repo_name, info, access)
        containers = storage_mod.granted_containers(info.virtual_chunk_credentials)
        repo = icechunk.Repository.open(
            storage,
            config=storage_mod.with_containers(config, containers),
            authorize_virtual_chunk_access=authorize,
        )
        _set_author(repo, info)
        return repo

    def _open_arguments(
        self, name: str, org: str, repo_name: str, info: OpenRepoResponse, access: Access | None
    ) -> tuple[icechunk.Storage, dict[str, Any] | None]:
        """The storage and the virtual chunk credentials to open a repo with, from the service's answer."""
        _check_status(name, info)
        storage = self._storage_from_open(org, repo_name, info, access)
        return storage, self._granted_containers(org, repo_name, info)

    def _granted_containers(self, org: str, repo: str, info: OpenRepoResponse) -> dict[str, Any] | None:
        """Icechunk credentials for the virtual chunk containers the org's policy lets this repo read."""
        if not info.virtual_chunk_credentials:
            return None
        granted: dict[str, Any] = {}
        for url_prefix, vcc in info.virtual_chunk_credentials.items():
            refresh = ServiceCredentials(
                self.service_uri, f"/repos/{org}/{repo}/open", None, self.token, url_prefix
            )
            if vcc.credentials is not None and vcc.credentials.expiration is not None:
                refresh.seed(vcc.credentials)
            granted[url_prefix] = storage_mod.container_credentials(vcc.platform, vcc.credentials, refresh)
        return icechunk.containers_credentials(granted)

    def _storage_from_open(
        self, org: str, repo: str, info: OpenRepoResponse, access: Access | None
    ) -> icechunk.Storage:
        refresh = self._service_credentials(f"/repos/{org}/{repo}/bucket-credentials", access)
        return self._storage(info.repo_bucket, info.repo_prefix, info.repo_credentials, refresh)

    async def get_or_create_repo(
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
    ) -> IcechunkRepository:
        """Get a repo by name, creating it if it doesn't exist yet.

        If the repo exists, ``bucket_config_nickname`` (when given) must be the bucket it lives in, and
        ``prefix``, ``description`` and ``metadata`` are ignored (change them with :meth:`modify_repo`).
        Other arguments are as in :meth:`create_repo`.
        """
        org, repo_name = parse_repo_name(name)
        for _ in range(3):
            try:
                info = await self._open_info(org, repo_name)
            except ArraylakeNotFoundError:
                try:
                    return await self.create_repo(
                        name,
                        bucket_config_nickname=bucket_config_nickname,
                        kind=kind,
                        prefix=prefix,
                        config=config,
                        virtual_container_nicknames=virtual_container_nicknames,
                        description=description,
                        metadata=metadata,
                    )
                except ArraylakeConflictError:
                    continue  # created concurrently by someone else: open theirs
            if bucket_config_nickname and info.repo_bucket.nickname != bucket_config_nickname.strip():
                raise ValueError(
                    f"repo {name} exists in bucket {info.repo_bucket.nickname!r}, "
                    f"not in {bucket_config_nickname!r}"
                )
            return await self.get_repo(
                name, config=config, virtual_container_nicknames=virtual_container_nicknames
            )
        raise ArraylakeConflictError(
            f"repo {name} keeps appearing and disappearing; try again", status_code=409, detail=None
        )

    async def create_repo(
        self,
        name: str,
        *,
        bucket_config_nickname: str | None = None,
        kind: RepoKind | None = None,
        prefix: str | None = None,
        config: RepoConfig = None,
        virtual_container_nicknames: dict[str, str] | None = None,
        description: str | None = None,
        metadata: RepoMetadata | None = None,
    ) -> IcechunkRepository:
        """Create a new Icechunk repo: its catalog entry and the Icechunk repository in the bucket.

        Nothing half-made stays behind: the name is reserved (invisible to others) until the Icechunk
        repository exists, and freed again if creating it fails.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            bucket_config_nickname: The bucket to put it in; defaults to the org's default bucket.
            kind: Only ``RepoKind.Icechunk`` (the default) is supported.
            prefix: Key prefix inside the bucket (under the bucket's own prefix). Defaults to a unique
                generated one; a given prefix must be empty in the bucket.
            config: An ``icechunk.RepositoryConfig`` saved with the repository.
            virtual_container_nicknames: Virtual chunk container (name or URL prefix, as set in ``config``)
                -> bucket nickname, to authorize reading virtual chunks from those buckets.
            description: A short description (at most 255 characters).
            metadata: Searchable key/value metadata (scalars or lists of scalars).
        """
        org, repo_name = parse_repo_name(name)
        if kind is not None and RepoKind(kind) != RepoKind.Icechunk:
            raise _not_yet("Creating V1 repos", "legacy V1 repos come in a later release")
        body = RepoCreateBody(
            name=repo_name,
            description=description,
            bucket_nickname=bucket_config_nickname,
            kind=RepoKind.Icechunk,
            metadata=metadata,
            prefix=prefix,
            create_mode=CreateMode.CREATE,
        )
        response = await self._transport.request(
            "POST", f"/orgs/{org}/repos", json_body=body.model_dump(mode="json", exclude_none=True)
        )
        created = Repo.model_validate(response.json())
        try:
            bucket = created.bucket
            if bucket is None:
                raise ValueError(f"repo {name} has no storage bucket: set a default bucket for org {org}")
            refresh = self._service_credentials(f"/repos/{org}/{repo_name}/bucket-credentials", "write")
            credentials = storage_mod.credentials_from_bucket(bucket)
            if storage_mod.vends_credentials(bucket):
                body = await self._transport.get_json(refresh.path, params={"access": "write"})
                credentials = parse_credentials(body)
            storage = self._storage(bucket, created.prefix, credentials, refresh)
            repo_config = storage_mod.apply_bucket_flags(bucket, config)
            authorize = None
            if virtual_container_nicknames:
                authorize, containers = await self._container_credentials_for_config(
                    org, virtual_container_nicknames, [repo_config]
                )
                repo_config = storage_mod.with_containers(repo_config, containers)
            repo = await icechunk.Repository.create_async(
                storage, config=repo_config, authorize_virtual_chunk_access=authorize
            )
            activated = await self._transport.request("POST", f"/orgs/{org}/{repo_name}/activate")
            _set_author(repo, OpenRepoResponse.model_validate(activated.json()))
            return repo
        except BaseException:
            await _abort_creation(self._transport, org, repo_name)
            raise

    async def import_repo(
        self,
        name: str,
        *,
        bucket_config_nickname: str,
        prefix: str,
        description: str | None = None,
        metadata: RepoMetadata | None = None,
        config: RepoConfig = None,
    ) -> IcechunkRepository:
        """Register an Icechunk repository that already exists in a bucket, and open it.

        Args:
            name: Full name to give the repo, ``ORG/REPO``.
            bucket_config_nickname: The bucket config of the bucket that holds it.
            prefix: Its key prefix, under the bucket config's own prefix.
            description, metadata: As in :meth:`create_repo`.
            config: An ``icechunk.RepositoryConfig`` to open it with.
        """
        org, repo_name = parse_repo_name(name)
        body = RepoImportBody(
            name=repo_name,
            bucket_nickname=bucket_config_nickname,
            prefix=prefix,
            description=description,
            metadata=metadata,
        )
        await self._transport.request(
            "POST", f"/orgs/{org}/repos/import", json_body=body.model_dump(mode="json", exclude_none=True)
        )
        return await self.get_repo(name, config=config)

    async def get_icechunk_storage(self, name: str, credentials_override: Any = None) -> icechunk.Storage:
        """The ``icechunk.Storage`` of a repo, to use Icechunk directly.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            credentials_override: ``S3Credentials``/``GSCredentials``/``AzureCredentials`` (or a dict of
                their fields) to use instead of the credentials the service hands out.
        """
        org, repo_name = parse_repo_name(name)
        info = await self._open_info(org, repo_name)
        if credentials_override is not None:
            credentials = _coerce_credentials(info.repo_bucket.platform, credentials_override)
            return storage_mod.icechunk_storage(info.repo_bucket, info.repo_prefix, credentials)
        return self._storage_from_open(org, repo_name, info, None)

    async def delete_repo(
        self,
        name: str,
        *,
        imsure: bool = False,
        imreallysure: bool = False,
        immediate: bool = True,
        retain_data: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Delete a repo.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            imsure, imreallysure: Both must be true: deletion removes the repo's data.
            immediate: Remove it now (default). ``False`` keeps it as a restorable ghost for the
                service's grace period, after which its data is removed.
            retain_data: Keep the Icechunk data in the bucket and drop only the catalog entry.
            on_progress: Called with the number of objects removed so far while the service removes the
                data; the call then returns once the data is gone.
        """
        if not (imsure and imreallysure):
            raise ValueError(
                "Don't do this unless you're really sure: pass imsure=True and imreallysure=True"
            )
        org, repo_name = parse_repo_name(name)
        params = {"immediate": _flag(immediate), "retain_data": _flag(retain_data)}
        if on_progress is not None:
            params["wait"] = "false"
        response = await self._transport.request("DELETE", f"/orgs/{org}/{repo_name}", params=params)
        if on_progress is None or response.status_code != 202:
            return
        repo_id = response.json().get("repo_id")
        while repo_id:
            progress = RepoDeletionProgress.model_validate(
                await self._transport.get_json(f"/orgs/{org}/repos/deletions/{repo_id}")
            )
            if not progress.in_progress:
                return
            on_progress(progress.removed_objects)
            await asyncio.sleep(DELETION_POLL_SECONDS)

    async def restore_repo(self, name: str) -> RepoModel:
        """Bring back a repo deleted with ``immediate=False``, with its data, before the service's grace
        period ends (see ``list_repos(org, include_deleted=True)``). Org admins and holders of
        ``CAN_MANAGE_USERS`` on the repo may.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
        """
        org, repo_name = parse_repo_name(name)
        response = await self._transport.request("POST", f"/orgs/{org}/{repo_name}/restore")
        return Repo.model_validate(response.json())

    async def modify_repo(
        self,
        name: str,
        *,
        description: str | None = None,
        add_metadata: RepoMetadata | None = None,
        remove_metadata: Sequence[str] | None = None,
        update_metadata: RepoMetadata | None = None,
    ) -> RepoModel:
        """Change a repo's description or metadata (writers may), all at once or not at all.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            description: The new description; ``""`` clears it, ``None`` leaves it.
            add_metadata: New keys; a key that exists already with another value is a conflict.
            remove_metadata: Keys to remove; a key that does not exist is a conflict.
            update_metadata: Keys to set, whether they exist or not.

        A key may be in only one of the three. Returns the changed repo.
        """
        org, repo_name = parse_repo_name(name)
        change = RepoModifyRequest.model_validate(
            {
                key: value
                for key, value in {
                    "description": description,
                    "add_metadata": add_metadata,
                    "remove_metadata": list(remove_metadata) if remove_metadata is not None else None,
                    "update_metadata": update_metadata,
                }.items()
                if value is not None
            }
        )
        if not change.model_fields_set:
            raise ValueError("nothing to change: give a description or metadata to add, remove or update")
        response = await self._transport.request(
            "PATCH",
            f"/orgs/{org}/{repo_name}",
            json_body=change.model_dump(mode="json", include=change.model_fields_set),
        )
        return Repo.model_validate(response.json())

    # -------------------------------------------------------------------------------------- bucket configs

    async def _bucket_by_nickname(self, org: str, nickname: str) -> BucketResponse:
        validate_org_name(org)
        nickname = validate_nickname(nickname)
        found = await self._transport.get_json(f"/orgs/{org}/buckets", params={"nickname": nickname})
        for item in found:
            bucket = BucketResponse.model_validate(item)
            if bucket.nickname == nickname:
                return bucket
        raise BucketNotFoundError(
            f"no bucket config named {nickname!r} in org {org}", status_code=404, detail=None
        )

    async def create_bucket_config(
        self,
        *,
        org: str,
        nickname: str,
        uri: str,
        extra_config: dict | None = None,
        auth_config: dict | None = None,
    ) -> BucketResponse:
        """Create a bucket config: where an org's repos may keep their data.

        This does not create the bucket in the object store.

        Args:
            org: Name of the org.
            nickname: Bucket nickname (e.g. ``our-s3-bucket``).
            uri: ``s3://bucket[/prefix]``, ``gs://...``, ``az://container[/prefix]`` or ``file://NAME[/prefix]``
                (a directory in the service's local storage area).
            extra_config: Platform settings: ``region_name``, ``endpoint_url``, ``use_ssl``,
                ``force_path_style``, ``unsafe_use_conditional_update``/``_create``.
            auth_config: How to reach the bucket; must include ``method``.
                Default ``{"method": "anonymous"}``.
        """
        validate_org_name(org)
        platform, bucket_name, prefix = parse_bucket_uri(uri, extra_config)
        new = NewBucket.model_validate(
            {
                "nickname": nickname,
                "platform": platform,
                "name": bucket_name,
                "prefix": prefix,
                "extra_config": dict(extra_config or {}),
                "auth_config": auth_config if auth_config is not None else AnonymousAuth().model_dump(),
            }
        )
        response = await self._transport.request(
            "POST", f"/orgs/{org}/buckets", json_body=new.model_dump(mode="json")
        )
        return BucketResponse.model_validate(response.json())

    async def modify_bucket_config(
        self,
        *,
        org: str,
        nickname: str,
        new_nickname: str | None = None,
        extra_config: dict | None = None,
        auth_config: dict | None = None,
    ) -> BucketResponse:
        """Change a bucket config's nickname, extra config or auth config (the location stays fixed)."""
        bucket = await self._bucket_by_nickname(org, nickname)
        change = BucketModifyRequest.model_validate(
            {"nickname": new_nickname, "extra_config": extra_config, "auth_config": auth_config}
        )
        response = await self._transport.request(
            "PATCH",
            f"/orgs/{org}/buckets/{bucket.id}",
            json_body=change.model_dump(mode="json", exclude_none=True),
        )
        return BucketResponse.model_validate(response.json())

    async def set_default_bucket_config(self, *, org: str, nickname: str) -> None:
        """Make this bucket config the org's default for new repos."""
        bucket = await self._bucket_by_nickname(org, nickname)
        await self._transport.request("POST", f"/orgs/{org}/buckets/{bucket.id}/default")

    async def check_bucket_config(self, *, org: str, nickname: str) -> BucketCheckReport:
        """Check that a bucket config works: the service lists, writes, reads, writes-if-absent and
        deletes a scratch key under its prefix with the credentials clients would receive (write access),
        removes it, and reports each capability with the cause of any failure."""
        bucket = await self._bucket_by_nickname(org, nickname)
        response = await self._transport.request("POST", f"/orgs/{org}/buckets/{bucket.id}/check")
        return BucketCheckReport.model_validate(response.json())

    async def get_storage_binding(self, org: str) -> StorageBinding:
        """What binds the org's delegated storage to it (org admins): the external id that the trust
        policy of every AWS role the org registers must require, the label of its GCS buckets and the
        metadata of its Azure containers. The service generates it; until a bucket is bound, it vends
        nothing there."""
        validate_org_name(org)
        return StorageBinding.model_validate(await self._transport.get_json(f"/orgs/{org}/storage-binding"))

    async def get_bucket_config(self, *, org: str, nickname: str) -> BucketResponse:
        """Get a bucket config by nickname."""
        return await self._bucket_by_nickname(org, nickname)

    async def list_bucket_configs(self, org: str) -> list[BucketResponse]:
        """List the org's bucket configs."""
        validate_org_name(org)
        return [
            BucketResponse.model_validate(b) for b in await self._transport.get_json(f"/orgs/{org}/buckets")
        ]

    async def list_repos_for_bucket_config(self, *, org: str, nickname: str) -> list[RepoModel]:
        """List the repos that keep their data in this bucket config."""
        bucket = await self._bucket_by_nickname(org, nickname)
        body = await self._transport.get_json(f"/orgs/{org}/buckets/{bucket.id}/repos")
        return [Repo.model_validate(r) for r in body]

    async def delete_bucket_config(
        self, *, org: str, nickname: str, imsure: bool = False, imreallysure: bool = False
    ) -> None:
        """Delete a bucket config. Refused while repos use it; the bucket itself is not touched."""
        if not (imsure and imreallysure):
            raise ValueError(
                "Don't do this unless you're really sure: pass imsure=True and imreallysure=True"
            )
        bucket = await self._bucket_by_nickname(org, nickname)
        await self._transport.request("DELETE", f"/orgs/{org}/buckets/{bucket.id}")

    # ----------------------------------------------------------------------------- virtual chunk containers

    async def get_icechunk_container_credentials_from_bucket(
        self, org: str, bucket_config_nickname: str
    ) -> Any:
        """Icechunk credentials for reading virtual chunks stored in a bucket.

        Args:
            org: The org the bucket config belongs to.
            bucket_config_nickname: Nickname of the bucket config.
        """
        return (await self._bucket_and_container_credentials(org, bucket_config_nickname))[1]

    async def _bucket_and_container_credentials(self, org: str, nickname: str) -> tuple[BucketResponse, Any]:
        bucket = await self._bucket_by_nickname(org, nickname)
        if bucket.platform == Platform.LOCAL or bucket.auth_method == AuthMethod.ANONYMOUS:
            return bucket, storage_mod.container_credentials(bucket, None)
        # From the service, also for HMAC buckets: only admins see their keys in a bucket listing.
        refresh = self._service_credentials(f"/orgs/{org}/buckets/{bucket.id}/credentials", "read")
        credentials = await asyncio.to_thread(refresh.current)
        return bucket, storage_mod.container_credentials(bucket, credentials, refresh)

    async def containers_credentials_for_buckets(
        self, org: str, containers_to_buckets_map: dict[str, str] | None = None, **kwargs: str
    ) -> dict[str, Any]:
        """Credentials for virtual chunk containers, from container URL prefix -> bucket nickname.

        Keyword arguments add more pairs. The result goes to Icechunk's ``authorize_virtual_chunk_access``
        (or ``virtual_chunk_credentials``).
        """
        mapping = {**(containers_to_buckets_map or {}), **kwargs}
        return icechunk.containers_credentials(
            {c: credentials for c, (_, credentials) in (await self._buckets_of(org, mapping)).items()}
        )

    async def _buckets_of(
        self, org: str, mapping: Mapping[str, str]
    ) -> dict[str, tuple[BucketResponse, Any]]:
        """Container URL prefix -> its bucket config and Icechunk credentials, from prefix -> nickname."""
        nicknames = sorted(set(mapping.values()))
        found = await asyncio.gather(*(self._bucket_and_container_credentials(org, n) for n in nicknames))
        by_nickname = dict(zip(nicknames, found, strict=True))
        return {c: by_nickname[n] for c, n in mapping.items()}

    async def _container_credentials_for_config(
        self, org: str, containers: Mapping[str, str], configs: Sequence[RepoConfig]
    ) -> tuple[dict[str, Any], list[Any]]:
        """Resolve container names (or URL prefixes) against the given configs, then fetch credentials; also
        the containers to open with, reading from the chosen buckets (see :func:`storage.with_containers`).
        """
        names: dict[str, str | None] = {}
        known: dict[str, str] = {}
        for cfg in configs:
            if cfg is None:
                continue
            for url_prefix, container in (cfg.virtual_chunk_containers or {}).items():
                names[url_prefix] = container.name
                known[url_prefix] = url_prefix
                if container.name:
                    known[container.name] = url_prefix
        resolved = {}
        for key, nickname in containers.items():
            if key not in known:
                have = ", ".join(sorted(known)) or "none"
                raise ValueError(
                    f"no virtual chunk container {key!r} in the repo config (containers: {have})"
                )
            resolved[known[key]] = nickname
        found = await self._buckets_of(org, resolved)
        credentials = icechunk.containers_credentials({c: creds for c, (_, creds) in found.items()})
        chosen = [
            icechunk.VirtualChunkContainer(c, storage_mod.container_store_config(bucket), names[c])
            for c, (bucket, _) in found.items()
        ]
        return credentials, chosen

    # ---------------------------------------------------------------------------------------------- login

    async def login(
        self,
        *,
        browser: bool = False,
        on_code: Callable[[DeviceAuthorizationResponse], None] | None = None,
    ) -> None:
        """Log in to the service as a user (OAuth device flow); the login is saved for later clients.

        Args:
            browser: Open the approval page in a browser; otherwise print its URL and the code.
            on_code: Called with the device authorization instead of printing it (for other front ends).
        """
        async with httpx.AsyncClient(timeout=30) as http:
            ep = await login_flow.endpoints(http, self.service_uri)
            tokens = await login_flow.device_login(
                http, ep, on_code=on_code or (lambda auth: login_flow.show_code(auth, browser))
            )
        write_tokens(self._login.path, tokens)
        user = await self.get_user()
        if on_code is None:
            print(f"Logged in to {self.service_uri} as {user.email}")

    async def logout(self) -> None:
        """End the saved login: revoked on the service, removed from disk."""
        tokens = read_tokens(self._login.path)
        if tokens is None:
            print("Not logged in")
            return
        async with httpx.AsyncClient(timeout=30) as http:
            with contextlib.suppress(httpx.HTTPError, ArraylakeError):
                await login_flow.revoke(http, await login_flow.endpoints(http, self.service_uri), tokens)
        self._login.forget()
        print(f"Logged out of {self.service_uri}")

    def get_services(self, org: str) -> Any:
        """The compute services of an org."""
        raise _not_yet("Compute services", "they come in a later release")


# ------------------------------------------------------------------------------------------------ helpers


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _check_status(name: str, info: OpenRepoResponse) -> None:
    status = info.status
    if status.mode == "offline":
        raise RepoOfflineError(f"repo {name} is offline{': ' + status.message if status.message else ''}")
    if status.mode == "maintenance":
        message = f"repo {name} is in maintenance and read-only"
        if status.estimated_end_time:
            message += f" until {status.estimated_end_time.isoformat()}"
        # Attributed to the caller's line, however deep in this package the check runs.
        warnings.warn(
            message + (f": {status.message}" if status.message else ""),
            UserWarning,
            skip_file_prefixes=(os.path.dirname(__file__),),
        )


def _set_author(repo: icechunk.Repository, info: OpenRepoResponse) -> None:
    metadata = {"author_email": str(info.author.email)}
    if info.author.name:
        metadata["author_name"] = info.author.name
    repo.set_default_commit_metadata(metadata)


def _coerce_credentials(platform: Platform, value: Any) -> Any:
    from arraylake.types import AzureCredentials, GSCredentials

    if isinstance(value, S3Credentials | GSCredentials | AzureCredentials):
        return value
    models: dict[Platform, type[S3Credentials | GSCredentials | AzureCredentials]]
    models = {Platform.GS: GSCredentials, Platform.AZURE: AzureCredentials}
    model = models.get(platform, S3Credentials)
    return model.model_validate(value)


async def _abort_creation(transport: Transport, org: str, repo: str) -> None:
    # Best effort: if the service can't be told, the reservation expires and the service cleans up.
    with contextlib.suppress(Exception):
        await asyncio.shield(
            transport.request(
                "DELETE", f"/orgs/{org}/{repo}", params={"immediate": "true", "retain_data": "false"}
            )
        )


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
