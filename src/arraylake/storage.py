"""From a bucket config and credentials to Icechunk storage objects.

The one place that knows how each platform maps onto Icechunk: repository storage
(:func:`icechunk_storage`), virtual chunk containers (:func:`container_store_config`) and their credentials
(:func:`container_credentials`). :func:`storage_arguments` returns the builder name and keyword arguments
without calling Icechunk, which keeps the mapping easy to inspect and test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arraylake._lazy import lazy_module
from arraylake.icechunk_logs import quiet_local_storage
from arraylake.names import join_prefix
from arraylake.types import (
    LOCAL_PATH_KEY,
    S3_LIKE_PLATFORMS,
    AnyCredentials,
    AuthMethod,
    AzureCredentials,
    BucketResponse,
    GSCredentials,
    HmacAuth,
    Platform,
    S3Credentials,
    VirtualChunkCredentials,
)

if TYPE_CHECKING:
    import icechunk
else:
    icechunk = lazy_module("icechunk")


LOCAL_BUILDER = "local_filesystem_storage"


@dataclass(frozen=True)
class StorageArguments:
    """Which ``icechunk`` builder to call, and with what."""

    builder: str
    kwargs: dict[str, Any]

    def build(self) -> icechunk.Storage:
        if self.builder == LOCAL_BUILDER:
            with quiet_local_storage():
                return icechunk.local_filesystem_storage(**self.kwargs)
        return getattr(icechunk, self.builder)(**self.kwargs)


def use_ssl(bucket: BucketResponse) -> bool:
    return bool(bucket.extra_config.get("use_ssl", True))


def force_path_style(bucket: BucketResponse) -> bool:
    return bool(bucket.extra_config.get("force_path_style", not use_ssl(bucket)))


def extra_str(bucket: BucketResponse, key: str) -> str | None:
    """A string setting (``region_name``, ``endpoint_url``) of the bucket's extra config, if set."""
    value = bucket.extra_config.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"bucket {bucket.nickname!r}: extra_config[{key!r}] must be a str")
    return value


def local_bucket_path(bucket: BucketResponse) -> str:
    """The directory of a ``local`` bucket, as the service reported it."""
    path = bucket.extra_config.get(LOCAL_PATH_KEY)
    if not isinstance(path, str) or not path:
        raise ValueError(
            f"local bucket {bucket.nickname!r} carries no {LOCAL_PATH_KEY}; is the service current?"
        )
    return path


def credentials_from_bucket(bucket: BucketResponse) -> AnyCredentials | None:
    """Static credentials held in the bucket config itself (HMAC keys), or ``None``."""
    auth = bucket.auth_config
    if isinstance(auth, HmacAuth) and bucket.platform in S3_LIKE_PLATFORMS:
        return S3Credentials(
            aws_access_key_id=auth.access_key_id, aws_secret_access_key=auth.secret_access_key
        )
    return None


def _s3_credential_kwargs(
    credentials: AnyCredentials | None, get_credentials: Callable[[], Any] | None, scatter: bool
) -> dict[str, Any]:
    if get_credentials is not None:
        return {"get_credentials": get_credentials, "scatter_initial_credentials": scatter}
    if credentials is None:
        return {"anonymous": True}
    if not isinstance(credentials, S3Credentials):
        raise TypeError(f"S3 storage needs S3 credentials, got {type(credentials).__name__}")
    return {
        "access_key_id": credentials.aws_access_key_id,
        "secret_access_key": credentials.aws_secret_access_key.get_secret_value(),
        "session_token": (
            credentials.aws_session_token.get_secret_value() if credentials.aws_session_token else None
        ),
        "expires_after": credentials.expiration,
    }


def storage_arguments(
    bucket: BucketResponse,
    prefix: str,
    credentials: AnyCredentials | None = None,
    *,
    get_credentials: Callable[[], Any] | None = None,
    scatter_initial_credentials: bool = True,
) -> StorageArguments:
    """The Icechunk builder and arguments for the repo at ``prefix`` (a full key prefix) in ``bucket``.

    ``credentials`` are static credentials; ``get_credentials`` is a picklable refresh callback and wins
    over them. With neither, access is anonymous (unsigned).
    """
    platform = bucket.platform
    if platform == Platform.LOCAL:
        return StorageArguments(LOCAL_BUILDER, {"path": os.path.join(local_bucket_path(bucket), prefix)})
    if platform in S3_LIKE_PLATFORMS:
        kwargs: dict[str, Any] = {
            "bucket": bucket.name,
            "prefix": prefix,
            "region": extra_str(bucket, "region_name"),
            "endpoint_url": extra_str(bucket, "endpoint_url"),
            "allow_http": not use_ssl(bucket),
            "force_path_style": force_path_style(bucket),
        }
        kwargs.update(_s3_credential_kwargs(credentials, get_credentials, scatter_initial_credentials))
        return StorageArguments("s3_storage", kwargs)
    if platform == Platform.GS:
        kwargs = {"bucket": bucket.name, "prefix": prefix}
        if get_credentials is not None:
            kwargs.update(
                get_credentials=get_credentials, scatter_initial_credentials=scatter_initial_credentials
            )
        elif isinstance(credentials, GSCredentials):
            kwargs["bearer_token"] = credentials.access_token.get_secret_value()
        elif credentials is None:
            kwargs["anonymous"] = True
        else:
            raise TypeError(f"GCS storage needs GCS credentials, got {type(credentials).__name__}")
        return StorageArguments("gcs_storage", kwargs)
    if platform == Platform.AZURE:
        account = getattr(bucket.auth_config, "storage_account", None)
        kwargs = {"container": bucket.name, "prefix": prefix}
        if isinstance(credentials, AzureCredentials):
            kwargs.update(
                account=credentials.storage_account, sas_token=credentials.sas_token.get_secret_value()
            )
        elif credentials is None:
            kwargs.update(account=account, anonymous=True)
        else:
            raise TypeError(f"Azure storage needs Azure credentials, got {type(credentials).__name__}")
        if not kwargs.get("account"):
            raise ValueError(f"azure bucket {bucket.nickname!r} names no storage account")
        return StorageArguments("azure_storage", kwargs)
    raise ValueError(f"unsupported platform {platform!r}")


def icechunk_storage(
    bucket: BucketResponse,
    prefix: str,
    credentials: AnyCredentials | None = None,
    *,
    get_credentials: Callable[[], Any] | None = None,
    scatter_initial_credentials: bool = True,
) -> icechunk.Storage:
    """Build the ``icechunk.Storage`` for the repo at ``prefix`` in ``bucket``."""
    return storage_arguments(
        bucket,
        prefix,
        credentials,
        get_credentials=get_credentials,
        scatter_initial_credentials=scatter_initial_credentials,
    ).build()


def apply_bucket_flags(
    bucket: BucketResponse, config: icechunk.RepositoryConfig | None
) -> icechunk.RepositoryConfig | None:
    """Merge the bucket's ``unsafe_use_conditional_*`` flags (for stores without conditional writes)."""
    flags = {
        key: bool(bucket.extra_config[key])
        for key in ("unsafe_use_conditional_update", "unsafe_use_conditional_create")
        if key in bucket.extra_config
    }
    if not flags:
        return config
    config = config if config is not None else icechunk.RepositoryConfig.default()
    settings = config.storage or icechunk.StorageSettings()
    for key, value in flags.items():
        setattr(settings, key, value)
    config.storage = settings
    return config


# ----------------------------------------------------------------------------------- virtual chunk containers


def container_url_prefix(bucket: BucketResponse) -> str:
    """The URL prefix that virtual chunk references into ``bucket`` start with (ends with ``/``)."""
    if bucket.platform == Platform.LOCAL:
        base = "file://" + local_bucket_path(bucket).rstrip("/")
        return join_prefix(base, bucket.prefix) + "/"
    scheme = {Platform.GS: "gs", Platform.AZURE: "az"}.get(bucket.platform, "s3")
    return f"{scheme}://" + join_prefix(bucket.name, bucket.prefix) + "/"


def _s3_container_store(
    platform: Platform, region: str | None, endpoint_url: str | None, *, allow_http: bool, path_style: bool
) -> Any:
    return icechunk.s3_store(
        region=region,
        endpoint_url=endpoint_url,
        allow_http=allow_http,
        s3_compatible=platform != Platform.S3,
        force_path_style=path_style,
    )


def container_store_config(bucket: BucketResponse) -> Any:
    """The Icechunk object-store config of a virtual chunk container that reads from ``bucket``."""
    if bucket.platform == Platform.LOCAL:
        return icechunk.local_filesystem_store(local_bucket_path(bucket))
    if bucket.platform in S3_LIKE_PLATFORMS:
        return _s3_container_store(
            bucket.platform,
            extra_str(bucket, "region_name"),
            extra_str(bucket, "endpoint_url"),
            allow_http=not use_ssl(bucket),
            path_style=force_path_style(bucket),
        )
    if bucket.platform == Platform.GS:
        return icechunk.gcs_store()
    raise ValueError(f"virtual chunk containers are not supported on {bucket.platform.value} buckets")


def granted_container_store(grant: VirtualChunkCredentials) -> Any | None:
    """The object-store config of a container the service authorized: the endpoint, region and addressing
    of the bucket config the grant comes from. ``None`` for local directories, which take no credentials."""
    if grant.platform in S3_LIKE_PLATFORMS:
        return _s3_container_store(
            grant.platform,
            grant.region,
            grant.endpoint_url,
            allow_http=grant.allow_http,
            path_style=grant.force_path_style,
        )
    if grant.platform == Platform.GS:
        return icechunk.gcs_store()
    return None


def granted_containers(grants: Mapping[str, VirtualChunkCredentials]) -> list[Any]:
    """The virtual chunk containers of the service's grants, each reading through
    :func:`granted_container_store` and keeping its name in the repo config, so relative
    ``vcc://name/...`` chunk locations resolve (local directories, which take no credentials, are left
    out)."""
    return [
        icechunk.VirtualChunkContainer(url_prefix, store, name=grant.runtime_vcc_name)
        for url_prefix, grant in grants.items()
        if (store := granted_container_store(grant)) is not None
    ]


def with_containers(
    config: icechunk.RepositoryConfig | None, containers: Sequence[Any]
) -> icechunk.RepositoryConfig | None:
    """``config`` with ``containers``, which win over the repo's stored containers and over ``config``'s.

    A repo's stored config names each container's store, and any writer may change it: left alone, it could
    send a reader's credentials to an endpoint of the writer's choosing. Containers built from the bucket
    config the credentials are for keep them on that bucket.
    """
    if not containers:
        return config
    override = icechunk.RepositoryConfig.default()
    for container in containers:
        override.set_virtual_chunk_container(container)
    return override if config is None else config.merge(override)


def container_credentials(
    target: BucketResponse | Platform,
    credentials: AnyCredentials | None,
    refresh: Callable[[], Any] | None = None,
) -> Any:
    """Icechunk credentials for reading virtual chunks from a bucket (or a platform's container).

    Credentials that expire are refreshed through ``refresh`` (e.g. a
    :class:`~arraylake.client.storage_credentials.ServiceCredentials`) when one is given.
    """
    platform = target if isinstance(target, Platform) else target.platform
    expiring = credentials is not None and credentials.expiration is not None
    if platform == Platform.LOCAL:
        return icechunk.credentials.LocalFileSystemAccess
    if platform in S3_LIKE_PLATFORMS:
        if credentials is None:
            return icechunk.s3_anonymous_credentials()
        if refresh is not None and expiring and isinstance(credentials, S3Credentials):
            return icechunk.s3_refreshable_credentials(refresh)
        kwargs = _s3_credential_kwargs(credentials, None, False)
        return icechunk.s3_static_credentials(**kwargs)
    if platform == Platform.GS:
        if refresh is not None and expiring and isinstance(credentials, GSCredentials):
            return icechunk.gcs_refreshable_credentials(refresh)
        if isinstance(credentials, GSCredentials):
            return icechunk.gcs_credentials(bearer_token=credentials.access_token.get_secret_value())
        return icechunk.gcs_credentials(anonymous=True)
    raise ValueError(f"virtual chunk containers are not supported on {platform.value} buckets")


def vends_credentials(bucket: BucketResponse) -> bool:
    """Whether the service hands out short-lived credentials for this bucket (role-based auth methods)."""
    return bucket.platform != Platform.LOCAL and bucket.auth_method not in (
        AuthMethod.ANONYMOUS,
        AuthMethod.HMAC,
    )


def can_write(bucket: BucketResponse) -> bool:
    """Anonymous object-store buckets are read-only; local directories and buckets with credentials not."""
    return bucket.platform == Platform.LOCAL or bucket.auth_method != AuthMethod.ANONYMOUS
