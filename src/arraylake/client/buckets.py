"""Bucket configs: where an org's repos keep their data; and credentials to read virtual chunks there."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arraylake import storage as storage_mod
from arraylake.client.base import ClientBase
from arraylake.client.uris import parse_bucket_uri
from arraylake.exceptions import BucketNotFoundError
from arraylake.names import validate_nickname, validate_org_name
from arraylake.types import (
    AnonymousAuth,
    AuthMethod,
    BucketCheckReport,
    BucketModifyRequest,
    BucketResponse,
    NewBucket,
    Platform,
    Repo,
    RepoModel,
    StorageBinding,
)

if TYPE_CHECKING:
    import icechunk

    from arraylake.client.base import RepoConfig
else:
    from arraylake.client.base import icechunk


class BucketMethods(ClientBase):
    """Bucket configs of an org, and Icechunk credentials for the virtual chunk containers kept in them."""

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
