"""From the service's answers about a repo to a checked-out :class:`AsyncRepo`."""

from __future__ import annotations

from arraylake.client.storage_credentials import ServiceCredentials
from arraylake.client.transport import Transport
from arraylake.names import parse_repo_name
from arraylake.repos.v1.chunkstore import BucketAccess, Chunkstore
from arraylake.repos.v1.metastore import Metastore
from arraylake.repos.v1.repo import DEFAULT_IS_WRITE_SESSION, AsyncRepo
from arraylake.repos.v1.sessions import Author
from arraylake.types import GSCredentials, OpenRepoResponse, Platform, Repo, S3Credentials


async def open_v1_repo(
    transport: Transport,
    token: str | None,
    name: str,
    repo: Repo,
    info: OpenRepoResponse,
    refresh: ServiceCredentials,
    *,
    checkout: bool | None,
    read_only: bool | None,
) -> AsyncRepo:
    """The V1 repo ``repo`` (its catalog entry) opened with ``info`` (the ``/open`` answer: bucket,
    credentials, author), checked out at ``main`` unless ``checkout`` is false."""
    org, repo_name = parse_repo_name(name)
    bucket = info.repo_bucket
    if bucket.platform == Platform.GS and bucket.auth_method.value.startswith("gcp_"):
        raise ValueError("V1 repos cannot use GCP customer-managed-role buckets")
    credentials = info.repo_credentials
    expiring = isinstance(credentials, S3Credentials | GSCredentials) and credentials.expiration is not None
    if expiring and credentials is not None:
        refresh.seed(credentials)
    chunkstore = Chunkstore(BucketAccess(bucket, credentials, refresh if expiring else None), repo.id)
    author = Author(name=info.author.name, email=str(info.author.email))
    arepo = AsyncRepo(Metastore(transport, token, org, repo_name), chunkstore, name, author)
    if checkout is None or checkout:
        for_writing = DEFAULT_IS_WRITE_SESSION if read_only is None else not read_only
        await arepo.checkout(for_writing=for_writing)
    return arepo
