"""What the service itself does in object storage: check that a prefix is empty, delete a prefix.

Chunks never pass through the service; it only lists and deletes keys, with ``obstore``, or for ``local``
buckets with :mod:`arraylake.server.local_tree`, which never follows a symbolic link (obstore's local store
would). Errors are turned into service errors that name the bucket and never carry a secret.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Generator
from datetime import timedelta
from typing import Any

import obstore
from obstore.store import AzureStore, GCSStore, S3Store

from arraylake.server import local_tree
from arraylake.server.errors import StorageRefused, StorageUnavailable
from arraylake.server.logs import get_logger
from arraylake.server.store_faults import classify
from arraylake.storage import force_path_style, local_bucket_path, use_ssl
from arraylake.types import S3_LIKE_PLATFORMS, AnyCredentials, BucketResponse, Platform, S3Credentials

DELETE_BATCH = 1000
# A dead endpoint must fail in about a second, not after obstore's default of ten retries over minutes:
# the caller is waiting, and a store that answers is asked again only for transient errors.
RETRY_CONFIG = {
    "max_retries": 2,
    "backoff": {"init_backoff": timedelta(milliseconds=100), "max_backoff": timedelta(seconds=2), "base": 2},
    "retry_timeout": timedelta(seconds=15),
}
CLIENT_OPTIONS = {"connect_timeout": "5s", "timeout": "60s"}
log = get_logger("arraylake.server.storage")


def object_store(bucket: BucketResponse, credentials: AnyCredentials | None) -> Any:
    """An obstore store rooted at the bucket (not at its prefix), signing with ``credentials``."""
    if bucket.platform == Platform.LOCAL:
        raise ValueError("local buckets are walked with arraylake.server.local_tree, which follows no links")
    if bucket.platform in S3_LIKE_PLATFORMS:
        extra = bucket.extra_config
        kwargs: dict[str, Any] = {
            "region": extra.get("region_name") or "us-east-1",
            "virtual_hosted_style_request": not force_path_style(bucket),
            "client_options": {**CLIENT_OPTIONS, "allow_http": not use_ssl(bucket)},
            "retry_config": RETRY_CONFIG,
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


def _translate(
    bucket: BucketResponse, exc: Exception, credentials: AnyCredentials | None, operation: str
) -> StorageRefused | StorageUnavailable:
    """The service error for a failed ``operation`` on the bucket, named in the service's words and logged
    (the store's status and error code go to the log only)."""
    fault = classify(bucket, exc, credentials)
    log.warning(
        "storage operation failed",
        bucket=bucket.nickname,
        operation=operation,
        fault=fault.kind,
        status=fault.status,
        code=fault.code,
        cause=fault.cause,
    )
    message = f"bucket config {bucket.nickname!r}: {fault.cause}"
    return StorageUnavailable(message) if fault.transient else StorageRefused(message)


def _dir_prefix(prefix: str) -> str:
    # A trailing slash keeps "repo-a" from matching the keys of a sibling "repo-ab".
    return prefix.rstrip("/") + "/"


def _local_error(bucket: BucketResponse, exc: OSError) -> StorageRefused:
    return StorageRefused(f"local bucket {bucket.nickname!r}: {exc.strerror or type(exc).__name__}")


async def _local[T](bucket: BucketResponse, check: Callable[[str, str, str], T], prefix: str) -> T:
    try:
        return await asyncio.to_thread(check, local_bucket_path(bucket), prefix, bucket.nickname)
    except OSError as exc:
        raise _local_error(bucket, exc) from exc


async def check_no_links(bucket: BucketResponse, prefix: str) -> None:
    """Refuse a prefix of a ``local`` bucket whose path passes through a symbolic link (other platforms
    have no links)."""
    if bucket.platform == Platform.LOCAL:
        await _local(bucket, local_tree.check_no_links, prefix)


async def prefix_is_empty(bucket: BucketResponse, prefix: str, credentials: AnyCredentials | None) -> bool:
    """Whether no object exists under ``prefix`` in the bucket."""
    if bucket.platform == Platform.LOCAL:
        return await _local(bucket, local_tree.prefix_is_empty, prefix)
    try:
        stream = obstore.list(object_store(bucket, credentials), prefix=_dir_prefix(prefix), chunk_size=1)
        async for batch in stream:
            if batch:
                return False
        return True
    except Exception as exc:
        raise _translate(bucket, exc, credentials, "list") from exc


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
    if bucket.platform == Platform.LOCAL:
        removal = local_tree.remove_prefix(local_bucket_path(bucket), prefix, bucket.nickname)
        try:
            return await _drive_removal(removal, after_batch, batch_size)
        except OSError as exc:
            raise _local_error(bucket, exc) from exc
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
        raise _translate(bucket, exc, credentials, "delete") from exc
    return deleted


def _advance(removal: Generator[None, None, None], count: int) -> int:
    return sum(1 for _ in itertools.islice(removal, count))


async def _drive_removal(
    removal: Generator[None, None, None],
    after_batch: Callable[[int], Awaitable[None]] | None,
    batch_size: int,
) -> int:
    """Run a local removal in worker threads, ``batch_size`` files at a time, with ``after_batch`` between."""
    deleted = 0
    try:
        while True:
            done = await asyncio.to_thread(_advance, removal, batch_size)
            deleted += done
            if done and after_batch is not None:
                await after_batch(deleted)
            if done < batch_size:
                return deleted
    finally:
        removal.close()
