"""Opening a repo: the service's ``/open`` answer turned into an ``icechunk.Repository``, its storage and
the credentials that keep it readable (``GET /repos/{org}/{repo}/open``).
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

from arraylake import storage as storage_mod
from arraylake.client.buckets import BucketMethods
from arraylake.client.storage_credentials import Access, ServiceCredentials
from arraylake.config import config as _config
from arraylake.exceptions import RepoOfflineError
from arraylake.names import parse_repo_name
from arraylake.types import (
    BucketResponse,
    GSCredentials,
    OpenRepoResponse,
    Platform,
    Repo,
    RepoKind,
    S3Credentials,
)

if TYPE_CHECKING:
    import icechunk

    from arraylake.client.base import IcechunkRepository, OpenedRepo, RepoConfig
    from arraylake.repos.v1 import AsyncRepo
else:
    from arraylake.client.base import icechunk


_PACKAGE_DIR = os.path.dirname(os.path.dirname(__file__))  # arraylake/


class RepoOpening(BucketMethods):
    """Opening repos as Icechunk repositories, with storage credentials that refresh themselves.

    Built on :class:`BucketMethods`: a repo may open with credentials for virtual chunk containers kept in
    the org's bucket configs.
    """

    async def _open_info(self, org: str, repo: str, access: Access | None = None) -> OpenRepoResponse:
        params = {"access": access} if access else None
        body = await self._transport.get_json(f"/repos/{org}/{repo}/open", params=params)
        return OpenRepoResponse.model_validate(body)

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
    ) -> OpenedRepo:
        """Get a repo by name, opened as an ``icechunk.Repository`` (or, for a legacy V1 repo, as an
        :class:`arraylake.repos.v1.AsyncRepo`; a ``Repo`` from the synchronous client).

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            checkout: V1 repos: check out ``main`` (default true). Ignored for Icechunk repos (sessions are
                opened from the returned repository).
            read_only: V1 repos: check out for reading (true) or writing (false). For Icechunk repos
                accepted for compatibility; open a read-only session with ``repo.readonly_session``.
            config: An ``icechunk.RepositoryConfig`` whose settings take precedence over the stored ones.
            virtual_container_nicknames: Virtual chunk container (name or URL prefix) -> bucket nickname;
                credentials for those buckets are fetched and handed to Icechunk.
        """
        org, repo_name = parse_repo_name(name)
        access: Access | None = "read" if read_only else None
        info = await self._open_info(org, repo_name, access)
        if info.kind == RepoKind.V1:
            return await self._open_v1(name, info, checkout=checkout, read_only=read_only)
        return await self._open_repo(name, info, access, config, virtual_container_nicknames)

    async def _open_v1(
        self,
        name: str,
        info: OpenRepoResponse,
        *,
        checkout: bool | None,
        read_only: bool | None,
        repo: Repo | None = None,
    ) -> AsyncRepo:
        """A V1 repo from the ``/open`` answer (and its catalog entry, fetched unless given)."""
        from arraylake.repos.v1.connect import open_v1_repo

        org, repo_name = parse_repo_name(name)
        _check_status(name, info)
        if repo is None:
            repo = Repo.model_validate(await self._transport.get_json(f"/repos/{org}/{repo_name}"))
        access: Access | None = "read" if read_only else None
        refresh = self._service_credentials(f"/repos/{org}/{repo_name}/bucket-credentials", access)
        return await open_v1_repo(
            self._transport, self.token, name, repo, info, refresh, checkout=checkout, read_only=read_only
        )

    async def _open_repo(
        self,
        name: str,
        info: OpenRepoResponse,
        access: Access | None,
        config: RepoConfig,
        virtual_container_nicknames: dict[str, str] | None,
    ) -> IcechunkRepository:
        """The repo opened from the service's ``/open`` answer ``info``."""
        org, repo_name = parse_repo_name(name)
        storage, authorize = self._open_arguments(name, org, repo_name, info, access)
        containers = storage_mod.granted_containers(info.virtual_chunk_credentials)
        if not virtual_container_nicknames:
            repo = await icechunk.Repository.open_async(
                storage,
                config=storage_mod.with_containers(config, containers),
                authorize_virtual_chunk_access=authorize,
            )
        else:
            # The nicknames may name containers of the stored config, which opening reads anyway: open
            # without credentials, resolve the names, then hand the credentials over (reopening reads
            # nothing from storage).
            repo = await icechunk.Repository.open_async(storage, config=config)
            chosen, chosen_containers = await self._container_credentials_for_config(
                org, virtual_container_nicknames, [repo.config, config]
            )
            repo = await repo.reopen_async(
                config=storage_mod.with_containers(None, containers + chosen_containers),
                authorize_virtual_chunk_access={**(authorize or {}), **chosen},
            )
        set_author(repo, info)
        return repo

    def get_repo_blocking(
        self,
        name: str,
        *,
        checkout: bool | None = None,
        read_only: bool | None = None,
        config: RepoConfig = None,
    ) -> OpenedRepo:
        """:meth:`get_repo` (without virtual container nicknames) in the caller's thread, without the event
        loop: the synchronous ``Client`` opens repos this way, sparing two hand-overs between threads."""
        org, repo_name = parse_repo_name(name)
        access: Access | None = "read" if read_only else None
        params = {"access": access} if access else None
        response = self._transport.request_blocking("GET", f"/repos/{org}/{repo_name}/open", params=params)
        info = OpenRepoResponse.model_validate_json(response.content)
        if info.kind == RepoKind.V1:
            from arraylake.client.io_loop import run_sync

            arepo = run_sync(self._open_v1(name, info, checkout=checkout, read_only=read_only))
            return arepo._sync_facade()
        storage, authorize = self._open_arguments(name, org, repo_name, info, access)
        containers = storage_mod.granted_containers(info.virtual_chunk_credentials)
        repo = icechunk.Repository.open(
            storage,
            config=storage_mod.with_containers(config, containers),
            authorize_virtual_chunk_access=authorize,
        )
        set_author(repo, info)
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
        path = f"/repos/{org}/{repo}/virtual-chunk-credentials"
        for url_prefix, vcc in info.virtual_chunk_credentials.items():
            refresh = self._service_credentials(path, None, container=url_prefix)
            if vcc.credentials is not None and vcc.credentials.expiration is not None:
                refresh.seed(vcc.credentials)
            granted[url_prefix] = storage_mod.container_credentials(vcc.platform, vcc.credentials, refresh)
        return icechunk.containers_credentials(granted)

    async def _with_granted_containers(
        self,
        org: str,
        repo_name: str,
        repo: IcechunkRepository,
        info: OpenRepoResponse,
        chosen: dict[str, Any],
        chosen_containers: list[Any],
    ) -> IcechunkRepository:
        """A repo just created, given the virtual chunk containers the service grants it as ``/open`` would
        (the answer to activating it), so it reads what :meth:`get_repo` would; ``chosen`` ones still win."""
        granted = self._granted_containers(org, repo_name, info)
        if not granted:
            return repo
        # The granted containers replace the configured ones: they keep the configured names, which
        # relative (vcc://NAME/...) chunk references need.
        configured = repo.config.virtual_chunk_containers or {}
        containers = [
            icechunk.VirtualChunkContainer(
                c.url_prefix, c.store, getattr(configured.get(c.url_prefix), "name", None)
            )
            for c in storage_mod.granted_containers(info.virtual_chunk_credentials)
        ]
        return await repo.reopen_async(
            config=storage_mod.with_containers(None, containers + chosen_containers),
            authorize_virtual_chunk_access={**granted, **chosen},
        )

    def _storage_from_open(
        self, org: str, repo: str, info: OpenRepoResponse, access: Access | None
    ) -> icechunk.Storage:
        refresh = self._service_credentials(f"/repos/{org}/{repo}/bucket-credentials", access)
        return self._storage(info.repo_bucket, info.repo_prefix, info.repo_credentials, refresh)

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


def _check_status(name: str, info: OpenRepoResponse) -> None:
    status = info.status
    if status.mode == "offline":
        raise RepoOfflineError(f"repo {name} is offline{': ' + status.message if status.message else ''}")
    if status.mode == "maintenance":
        until = f" until {status.estimated_end_time.isoformat()}" if status.estimated_end_time else ""
        why = f": {status.message}" if status.message else ""
        if "maintenance_run" in status.initiated_by:
            # The service's own expiration and GC: Icechunk keeps reads and writes safe meanwhile.
            message = f"scheduled maintenance of repo {name} is under way{until}{why}"
            message += "; reads and writes keep working"
        else:
            message = f"repo {name} is in maintenance and read-only{until}{why}"
        # Attributed to the caller's line, however deep in this package the check runs.
        warnings.warn(message, UserWarning, skip_file_prefixes=(_PACKAGE_DIR,))


def set_author(repo: icechunk.Repository, info: OpenRepoResponse) -> None:
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
