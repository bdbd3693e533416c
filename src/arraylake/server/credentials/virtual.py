"""Vending credentials for a repo's virtual chunk containers, as far as the org's policies allow.

Which containers a repo has comes from its Icechunk config (cached briefly); which of them a reader gets
credentials for comes from the org's virtual-chunk access policies (``buckets.virtual_policies``): a
container is served only when its URL prefix falls under a policy, and then with credentials for the
policy's bucket and sub-prefix, never for what the repo config names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import icechunk
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.names import join_prefix
from arraylake.server.buckets.service import BucketCodec
from arraylake.server.buckets.virtual_policies import policy_rows, policy_url
from arraylake.server.catalog_cache import CatalogCache
from arraylake.server.credentials.vendor import CredentialVendor
from arraylake.server.identity.principals import OrgScope, Principal
from arraylake.storage import force_path_style, icechunk_storage, use_ssl
from arraylake.types import BucketResponse, VirtualChunkCredentials

CONTAINERS_CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class _Source:
    """Where one policy lets virtual chunks be read from."""

    url_prefix: str
    subprefix: str
    public: bool
    bucket: Any  # its bucket row, opened only when credentials are handed out for it


@dataclass
class _Containers:
    names: dict[str, str | None]
    """URL prefix -> the container's name in the repo config (for relative ``vcc://name/...`` chunks)."""
    fetched: float


class ContainerCredentials:
    """Virtual chunk credentials of repos, as the org's policy allows (repo configs cached briefly)."""

    def __init__(
        self, codec: BucketCodec, vendor: CredentialVendor, reader: AsyncEngine, cache: CatalogCache
    ):
        self.codec = codec
        self.vendor = vendor
        self.reader = reader
        self.cache = cache
        self._containers: dict[str, _Containers] = {}

    async def for_repo(
        self, org: OrgScope, principal: Principal, repo_id: str, repo_bucket: BucketResponse, prefix: str
    ) -> dict[str, VirtualChunkCredentials]:
        """Credentials for every container of the repo that the org's policies allow, by URL prefix."""
        allowed = await self._allowed(org, repo_id, repo_bucket, prefix)
        opened: dict[str, BucketResponse] = {}
        return {
            url: await self._vend(org, principal, source, opened, name)
            for url, (source, name) in allowed.items()
        }

    async def for_container(
        self,
        org: OrgScope,
        principal: Principal,
        repo_id: str,
        repo_bucket: BucketResponse,
        prefix: str,
        url_prefix: str,
    ) -> VirtualChunkCredentials | None:
        """What :meth:`for_repo` answers for ``url_prefix`` alone; ``None`` if no policy allows it."""
        found = (await self._allowed(org, repo_id, repo_bucket, prefix)).get(url_prefix)
        return None if found is None else await self._vend(org, principal, found[0], {}, found[1])

    async def _allowed(
        self, org: OrgScope, repo_id: str, repo_bucket: BucketResponse, prefix: str
    ) -> dict[str, tuple[_Source, str | None]]:
        """The repo's containers that a policy allows, each with the first (oldest) such policy and the
        container's name."""
        sources = await self._sources(org)
        if not sources:
            return {}
        allowed: dict[str, tuple[_Source, str | None]] = {}
        for url_prefix, name in (await self._containers_of(repo_id, repo_bucket, prefix)).items():
            wanted = url_prefix if url_prefix.endswith("/") else url_prefix + "/"
            found = next((s for s in sources if wanted.startswith(s.url_prefix)), None)
            if found is not None:
                allowed[url_prefix] = (found, name)
        return allowed

    async def _vend(
        self,
        org: OrgScope,
        principal: Principal,
        source: _Source,
        opened: dict[str, BucketResponse],
        name: str | None,
    ) -> VirtualChunkCredentials:
        bucket = opened.get(source.bucket.id)
        if bucket is None:
            bucket = self.codec.to_wire(
                source.bucket, default_bucket_id=None, org_name=org.org_name, internal=True
            )
            opened[source.bucket.id] = bucket
        credentials = None
        if not source.public:
            credentials = await self.vendor.credentials(
                bucket, join_prefix(bucket.prefix, source.subprefix), write=False, principal_id=principal.id
            )
        return VirtualChunkCredentials(
            credentials=credentials,
            org=org.org_name,
            bucket_nickname=bucket.nickname,
            platform=bucket.platform,
            runtime_vcc_name=name,
            region=bucket.extra_config.get("region_name"),  # type: ignore[arg-type]
            endpoint_url=bucket.extra_config.get("endpoint_url"),  # type: ignore[arg-type]
            allow_http=not use_ssl(bucket),
            force_path_style=force_path_style(bucket),
        )

    async def _containers_of(
        self, repo_id: str, repo_bucket: BucketResponse, prefix: str
    ) -> dict[str, str | None]:
        """The repo's containers (URL prefix -> name), from its Icechunk config."""
        cached = self._containers.get(repo_id)
        if cached is not None and time.monotonic() - cached.fetched < CONTAINERS_CACHE_SECONDS:
            return cached.names
        credentials = await self.vendor.for_service(repo_bucket, prefix)
        storage = icechunk_storage(repo_bucket, prefix, credentials, scatter_initial_credentials=False)
        try:
            config = await icechunk.Repository.fetch_config_async(storage)
        except icechunk.IcechunkError:
            config = None
        stored = (config.virtual_chunk_containers or {}) if config is not None else {}
        names = {url: stored[url].name for url in sorted(stored)}
        self._containers[repo_id] = _Containers(names, time.monotonic())
        return names

    async def _sources(self, org: OrgScope) -> list[_Source]:
        async def load() -> list[_Source]:
            async with self.reader.connect() as conn:
                pairs = await policy_rows(conn, org)
            # The URL needs the bucket's location only: its secrets stay sealed (reveal_secrets=False).
            return [
                _Source(
                    policy_url(
                        self.codec.to_wire(
                            b, default_bucket_id=None, org_name=org.org_name, reveal_secrets=False
                        ),
                        policy.subprefix,
                    ),
                    policy.subprefix,
                    policy.public,
                    b,
                )
                for policy, b in pairs
            ]

        return await self.cache.get(("virtual chunk policies", org.org_id), load)
