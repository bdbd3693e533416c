"""Repos: the catalog entries (list, create, import, change, delete, restore) and the Icechunk repositories
behind them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from arraylake import storage as storage_mod
from arraylake.client.opening import RepoOpening, set_author
from arraylake.client.storage_credentials import parse_credentials
from arraylake.client.transport import Transport
from arraylake.exceptions import ArraylakeConflictError, ArraylakeNotFoundError
from arraylake.names import parse_repo_name, validate_org_name
from arraylake.types import (
    CreateMode,
    OpenRepoResponse,
    PaginatedRepos,
    Repo,
    RepoCreateBody,
    RepoDeletionProgress,
    RepoImportBody,
    RepoKind,
    RepoMetadata,
    RepoModel,
    RepoModifyRequest,
)
from arraylake.types.maintenance import OptimizationConfig

if TYPE_CHECKING:
    import icechunk

    from arraylake.client.base import IcechunkRepository, OpenedRepo, RepoConfig
    from arraylake.repos.v1.migrate import MigrationProgress, MigrationReport
else:
    from arraylake.client.base import icechunk


_LIST_PAGE_SIZE = 100
DELETION_POLL_SECONDS = 0.25


class RepoMethods(RepoOpening):
    """Repos: listing, creating, importing, changing and deleting them; opening them comes from
    :class:`RepoOpening`.
    """

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
    ) -> OpenedRepo:
        """Get a repo by name, creating it if it doesn't exist yet.

        If the repo exists, ``bucket_config_nickname`` (when given) must be the bucket it lives in, and
        ``prefix``, ``description`` and ``metadata`` are ignored (change them with :meth:`modify_repo`).
        ``checkout`` (V1 repos) is as in :meth:`get_repo`; other arguments are as in :meth:`create_repo`.
        """
        org, repo_name = parse_repo_name(name)
        for _ in range(3):
            try:
                info = await self._open_info(org, repo_name)
            except ArraylakeNotFoundError:
                try:
                    return await self.create_repo(
                        name,
                        checkout=checkout,
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
            if info.kind == RepoKind.V1:
                return await self._open_v1(name, info, checkout=checkout, read_only=None)
            return await self._open_repo(name, info, None, config, virtual_container_nicknames)
        raise ArraylakeConflictError(
            f"repo {name} keeps appearing and disappearing; try again", status_code=409, detail=None
        )

    async def create_repo(
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
        or a legacy V1 repo (``kind="v1"``), returned checked out at ``main``.

        Nothing half-made stays behind: the name is reserved (invisible to others) until the Icechunk
        repository exists, and freed again if creating it fails.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            bucket_config_nickname: The bucket to put it in; defaults to the org's default bucket.
            checkout: V1 repos: check out ``main`` (default true); ignored for Icechunk repos.
            kind: ``RepoKind.Icechunk`` (the default), or ``"v1"`` for a legacy V1 repo.
            prefix: Key prefix inside the bucket (under the bucket's own prefix). Defaults to a unique
                generated one; a given prefix must be empty in the bucket.
            config: An ``icechunk.RepositoryConfig`` saved with the repository.
            virtual_container_nicknames: Virtual chunk container (name or URL prefix, as set in ``config``)
                -> bucket nickname, to authorize reading virtual chunks from those buckets.
            description: A short description (at most 255 characters).
            metadata: Searchable key/value metadata (scalars or lists of scalars).
        """
        org, repo_name = parse_repo_name(name)
        if kind is not None and RepoKind(kind) == RepoKind.V1:
            return await self._create_v1(
                name, bucket_config_nickname, prefix, description, metadata, checkout
            )
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
            chosen: dict[str, Any] = {}
            chosen_containers: list[Any] = []
            if virtual_container_nicknames:
                chosen, chosen_containers = await self._container_credentials_for_config(
                    org, virtual_container_nicknames, [repo_config]
                )
                repo_config = storage_mod.with_containers(repo_config, chosen_containers)
            repo = await icechunk.Repository.create_async(
                storage, config=repo_config, authorize_virtual_chunk_access=chosen or None
            )
            activated = await self._transport.request("POST", f"/orgs/{org}/{repo_name}/activate")
            info = OpenRepoResponse.model_validate(activated.json())
            repo = await self._with_granted_containers(org, repo_name, repo, info, chosen, chosen_containers)
            set_author(repo, info)
            return repo
        except BaseException:
            await _abort_creation(self._transport, org, repo_name)
            raise

    async def _create_v1(
        self,
        name: str,
        bucket_config_nickname: str | None,
        prefix: str | None,
        description: str | None,
        metadata: RepoMetadata | None,
        checkout: bool | None,
    ) -> OpenedRepo:
        """Record a V1 repo (there is nothing to create in the bucket) and open it."""
        if prefix is not None:
            raise ValueError("V1 repos take no prefix: their chunks live under the repo's id")
        org, repo_name = parse_repo_name(name)
        body = RepoCreateBody(
            name=repo_name,
            description=description,
            bucket_nickname=bucket_config_nickname,
            kind=RepoKind.V1,
            metadata=metadata,
            create_mode=CreateMode.REGISTER,
        )
        response = await self._transport.request(
            "POST", f"/orgs/{org}/repos", json_body=body.model_dump(mode="json", exclude_none=True)
        )
        created = Repo.model_validate(response.json())
        info = await self._open_info(org, repo_name)
        return await self._open_v1(name, info, checkout=checkout, read_only=False, repo=created)

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
        return cast("IcechunkRepository", await self.get_repo(name, config=config))

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
        optimization_config: OptimizationConfig | None = None,
    ) -> RepoModel:
        """Change a repo's description or metadata (writers may), all at once or not at all.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            description: The new description; ``""`` clears it, ``None`` leaves it.
            add_metadata: New keys; a key that exists already with another value is a conflict.
            remove_metadata: Keys to remove; a key that does not exist is a conflict.
            update_metadata: Keys to set, whether they exist or not.
            optimization_config: Replaces the repo's maintenance policy (needs the right to manage the
                repo); see also :meth:`set_maintenance`.

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
                    "optimization_config": optimization_config,
                }.items()
                if value is not None
            }
        )
        if not change.model_fields_set:
            raise ValueError(
                "nothing to change: give a description, metadata to add, remove or update, or an "
                "optimization_config"
            )
        response = await self._transport.request(
            "PATCH",
            f"/orgs/{org}/{repo_name}",
            json_body=change.model_dump(mode="json", include=change.model_fields_set),
        )
        return Repo.model_validate(response.json())

    async def migrate_v1_repo(
        self,
        name: str,
        *,
        to: str | None = None,
        bucket_config_nickname: str | None = None,
        verify: bool = True,
        on_progress: Callable[[MigrationProgress], None] | None = None,
    ) -> MigrationReport:
        """Copy a legacy V1 repo, with its history, into a new Icechunk repo (the V1 repo stays as it is).

        Each V1 commit becomes a snapshot with the same message, oldest first along each branch; the
        snapshot's metadata keeps the original ``author_name``, ``author_email``, ``v1_commit_time`` and
        ``v1_commit_id``. Branches and tags point at the copies of their commits. Only what each commit
        changed is copied. Interrupted, it resumes where it stopped when called again with the same
        arguments; called again after finishing, it copies nothing and verifies again.

        Args:
            name: The V1 repo, ``ORG/REPO``.
            to: The new repo: ``ORG/NAME``, or ``NAME`` in the same org. Default: ``ORG/REPO-icechunk``.
            bucket_config_nickname: The bucket for the new repo; default: the V1 repo's bucket.
            verify: Afterwards compare every group and array (values, attributes, dtype, shape, chunks,
                fill value) at every branch tip and tag; a difference raises
                :class:`~arraylake.repos.v1.migrate.MigrationVerificationError`.
            on_progress: Called as commits are copied and refs verified.

        Returns:
            What was copied and verified.
        """
        from arraylake.client.migration import migrate_v1

        return await migrate_v1(
            self,
            name,
            to=to,
            bucket_config_nickname=bucket_config_nickname,
            verify=verify,
            on_progress=on_progress,
        )


def _json(value: Any) -> str:
    import json

    return json.dumps(value, separators=(",", ":"))


def _flag(value: bool) -> str:
    return "true" if value else "false"


async def _abort_creation(transport: Transport, org: str, repo: str) -> None:
    # Best effort: if the service can't be told, the reservation expires and the service cleans up.
    with contextlib.suppress(Exception):
        await asyncio.shield(
            transport.request(
                "DELETE", f"/orgs/{org}/{repo}", params={"immediate": "true", "retain_data": "false"}
            )
        )
