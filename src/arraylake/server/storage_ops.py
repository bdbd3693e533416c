"""What the service itself does in object storage: check that a prefix is empty, delete a prefix.

Chunks never pass through the service; it only lists and deletes keys, with ``obstore``. Errors are turned
into service errors that name the bucket and never carry a secret.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import obstore
from obstore.store import AzureStore, GCSStore, LocalStore, S3Store

from arraylake.server.errors import StorageRefused, StorageUnavailable
from arraylake.storage import force_path_style, local_bucket_path, use_ssl
from arraylake.types import S3_LIKE_PLATFORMS, AnyCredentials, BucketResponse, Platform, S3Credentials

DELETE_BATCH = 1000


def object_store(bucket: BucketResponse, credentials: AnyCredentials | None) -> Any:
    """An obstore store rooted at the bucket (not at its prefix), signing with ``credentials``."""
    if bucket.platform == Platform.LOCAL:
        return LocalStore(local_bucket_path(bucket), mkdir=True)
    if bucket.platform in S3_LIKE_PLATFORMS:
        extra = bucket.extra_config
        kwargs: dict[str, Any] = {
            "region": extra.get("region_name") or "us-east-1",
            "virtual_hosted_style_request": not force_path_style(bucket),
            "client_options": {"allow_http": not use_ssl(bucket)},
        }
        if extra.get("endpoint_url"):
            kwargs["endpoint"] = extra["endpoint_url"]
        if isinstance(credentials, S3Credentials):
            kwargs["access_key_id"] = credentials.aws_access_key_id
            kwargs["secret_access_key"] = credentials.aws_secret_access_key.get_secret_value()
            if credentials.aws_session_token is not None:
                kwargs["session_token"] = credentials.aws_session_token.get_secret_value()
        else:
            kwargs["skip_signature"] = True
        return S3Store(bucket.name, **kwargs)
    if bucket.platform == Platform.GS:
        return GCSStore(bucket.name, skip_signature=True)
    if bucket.platform == Platform.AZURE:
        account = getattr(bucket.auth_config, "storage_account", None)
        return AzureStore(bucket.name, account_name=account, skip_signature=True)
    raise ValueError(f"unsupported platform {bucket.platform}")


def _translate(bucket: BucketResponse, exc: Exception) -> Exception:
    name = type(exc).__name__
    if "PermissionDenied" in name or "Unauthenticated" in name:
        return StorageRefused(f"bucket {bucket.nickname!r} refused access: check its auth_config and policy")
    if "NotFound" in name:
        return StorageRefused(f"bucket {bucket.name!r} (config {bucket.nickname!r}) does not exist")
    return StorageUnavailable(f"could not reach bucket {bucket.nickname!r} ({name}); try again later")


def _dir_prefix(prefix: str) -> str:
    # A trailing slash keeps "repo-a" from matching the keys of a sibling "repo-ab".
    return prefix.rstrip("/") + "/"


async def prefix_is_empty(bucket: BucketResponse, prefix: str, credentials: AnyCredentials | None) -> bool:
    """Whether no object exists under ``prefix`` in the bucket."""
    if bucket.platform == Platform.LOCAL:
        path = Path(local_bucket_path(bucket)) / prefix
        return not path.exists() or not any(path.iterdir())
    try:
        stream = obstore.list(object_store(bucket, credentials), prefix=_dir_prefix(prefix), chunk_size=1)
        async for batch in stream:
            if batch:
                return False
        return True
    except Exception as exc:
        raise _translate(bucket, exc) from exc


async def delete_prefix(
    bucket: BucketResponse,
    prefix: str,
    credentials: AnyCredentials | None,
    *,
    after_batch: Callable[[int], Awaitable[None]] | None = None,
    batch_size: int = DELETE_BATCH,
) -> int:
    """Delete every object under ``prefix``, ``batch_size`` at a time; ``after_batch(deleted_so_far)``
    runs after each batch. Returns the number of objects deleted."""
    if not prefix:
        raise ValueError("refusing to delete an empty prefix (the whole bucket)")
    store = object_store(bucket, credentials)
    deleted = 0
    try:
        async for batch in obstore.list(store, prefix=_dir_prefix(prefix), chunk_size=batch_size):
            paths = [item["path"] for item in batch]
            if not paths:
                continue
            await obstore.delete_async(store, paths)
            deleted += len(paths)
            if after_batch is not None:
                await after_batch(deleted)
    except Exception as exc:
        if not (bucket.platform == Platform.LOCAL and "NotFound" in type(exc).__name__):
            raise _translate(bucket, exc) from exc
    if bucket.platform == Platform.LOCAL:
        # Object stores have no directories; a local bucket keeps empty ones behind.
        await asyncio.to_thread(shutil.rmtree, Path(local_bucket_path(bucket)) / prefix, ignore_errors=True)
    return deleted
