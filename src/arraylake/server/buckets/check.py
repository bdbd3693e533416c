"""The connectivity check of a bucket config: can the credentials that clients receive list, write, read,
write-if-absent and delete under its prefix?

It works on a scratch key (``PREFIX/.arraylake-check/RANDOM/...``) and removes it afterwards, with the
service's own credentials if the checked ones cannot delete. Causes come from :mod:`store_faults` (a fixed
vocabulary) or from service errors, whose details are already the service's own words. A fault that
affects every operation (no such bucket, unknown key, nothing answering) stops the check: writing into a
bucket that does not exist would create it on some stores.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import os
import secrets
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import obstore

from arraylake.names import join_prefix
from arraylake.server import storage_ops
from arraylake.server.credentials.vendor import CredentialVendor
from arraylake.server.errors import ServiceError
from arraylake.server.logs import get_logger
from arraylake.server.private_files import PRIVATE_DIR, PRIVATE_FILE, private_dir
from arraylake.server.store_faults import StoreFault, classify
from arraylake.storage import can_write, local_bucket_path
from arraylake.types import (
    S3_LIKE_PLATFORMS,
    AnyCredentials,
    BucketCheckReport,
    BucketCheckStep,
    BucketResponse,
    Platform,
)

CREDENTIALS, LIST, WRITE, READ, CONDITIONAL, DELETE = (
    "credentials",
    "list",
    "write",
    "read",
    "conditional writes",
    "delete",
)
CAPABILITIES = (CREDENTIALS, LIST, WRITE, READ, CONDITIONAL, DELETE)
SCRATCH_DIR = ".arraylake-check"
PAYLOAD = b"arraylake connectivity check\n"
NOTHING_WRITTEN = "not tried: nothing was written"
IGNORED_CONDITION = (
    "the store accepted a second put-if-absent of the same key: it ignores conditional writes, so "
    "concurrent writers could overwrite each other's commits"
)
log = get_logger("arraylake.server.buckets.check")


class _Steps:
    """The capabilities tried so far, in the order of :data:`CAPABILITIES`."""

    def __init__(self) -> None:
        self._found: dict[str, BucketCheckStep] = {}

    def record(
        self, capability: str, status: Literal["ok", "failed", "skipped"], cause: str | None = None
    ) -> None:
        self._found[capability] = BucketCheckStep(capability=capability, status=status, cause=cause)

    def fault(self, capability: str, fault: StoreFault | None) -> bool:
        """Record the outcome of one operation; whether it passed."""
        self.record(capability, "ok" if fault is None else "failed", None if fault is None else fault.cause)
        return fault is None

    def skip_rest(self, cause: str) -> None:
        for capability in CAPABILITIES:
            self._found.setdefault(
                capability, BucketCheckStep(capability=capability, status="skipped", cause=cause)
            )

    def all(self) -> list[BucketCheckStep]:
        self.skip_rest("not tried")
        return [self._found[c] for c in CAPABILITIES]


async def check_bucket(
    bucket: BucketResponse, vendor: CredentialVendor, *, principal_id: str
) -> BucketCheckReport:
    """Try the bucket config with the write credentials ``principal_id`` would receive for its prefix."""
    scratch = join_prefix(bucket.prefix, SCRATCH_DIR, secrets.token_hex(8))
    steps = _Steps()
    if bucket.platform == Platform.LOCAL:
        cleaned_up = await _run_local(bucket, scratch, steps)
    elif bucket.platform in S3_LIKE_PLATFORMS:
        cleaned_up = await _S3Check(bucket, vendor, scratch, steps).run(principal_id)
    else:
        steps.record(CREDENTIALS, "skipped", "not checked: the check covers local and S3-like buckets so far")
        cleaned_up = True
    found = steps.all()
    report = BucketCheckReport(
        nickname=bucket.nickname,
        location=join_prefix(f"{bucket.platform.value}://{bucket.name}", bucket.prefix),
        scratch_key=scratch,
        ok=all(step.status != "failed" for step in found) and cleaned_up,
        cleaned_up=cleaned_up,
        steps=found,
    )
    log.info(
        "bucket checked",
        bucket=bucket.nickname,
        ok=report.ok,
        failed={s.capability: s.cause for s in found if s.status == "failed"},
        cleaned_up=cleaned_up,
    )
    return report


# ----------------------------------------------------------------------------------------- object stores


class _S3Check:
    def __init__(self, bucket: BucketResponse, vendor: CredentialVendor, scratch: str, steps: _Steps):
        self.bucket, self.vendor, self.steps = bucket, vendor, steps
        self.data_key, self.once_key = f"{scratch}/object", f"{scratch}/put-if-absent"
        self.scratch = scratch
        self.written: list[str] = []

    async def run(self, principal_id: str) -> bool:
        """Record every capability; whether no scratch key is left."""
        try:
            await self.vendor.check_endpoint(self.bucket)
            credentials = await self.vendor.credentials(
                self.bucket, self.bucket.prefix, write=True, principal_id=principal_id, may_write=True
            )
        except ServiceError as exc:
            self.steps.record(CREDENTIALS, "failed", str(exc.detail))
            self.steps.skip_rest("not tried without credentials")
            return True
        self.steps.record(CREDENTIALS, "ok")
        try:
            await self._capabilities(storage_ops.object_store(self.bucket, credentials), credentials)
        finally:
            cleaned_up = await self._clean_up()
        return cleaned_up

    async def _try(
        self, credentials: AnyCredentials | None, operation: Callable[[], Awaitable[Any]]
    ) -> StoreFault | None:
        try:
            await operation()
        except Exception as exc:
            return classify(self.bucket, exc, credentials)
        return None

    async def _capabilities(self, store: Any, credentials: AnyCredentials | None) -> None:
        steps = self.steps

        async def listing() -> None:
            async for _ in obstore.list(store, prefix=self.scratch + "/", chunk_size=1):
                break

        fault = await self._try(credentials, listing)
        steps.fault(LIST, fault)
        if fault is not None and fault.fatal:
            steps.skip_rest(f"not tried: {fault.cause}")
            return
        if not can_write(self.bucket):
            steps.skip_rest("not tried: anonymous access is read-only (repos can only be imported here)")
            return
        if not steps.fault(
            WRITE, await self._try(credentials, lambda: obstore.put_async(store, self.data_key, PAYLOAD))
        ):
            steps.skip_rest(NOTHING_WRITTEN)
            return
        self.written.append(self.data_key)
        await self._read(store, credentials)
        await self._conditional(store, credentials)
        await self._delete(store, credentials)

    async def _read(self, store: Any, credentials: AnyCredentials | None) -> None:
        got: list[bytes] = []

        async def read() -> None:
            got.append(bytes(await (await obstore.get_async(store, self.data_key)).bytes_async()))

        fault = await self._try(credentials, read)
        if fault is None and got != [PAYLOAD]:
            self.steps.record(READ, "failed", "the store returned other bytes than were written")
        else:
            self.steps.fault(READ, fault)

    async def _conditional(self, store: Any, credentials: AnyCredentials | None) -> None:
        if self.bucket.extra_config.get("unsafe_use_conditional_create") is False:
            self.steps.record(
                CONDITIONAL, "skipped", "not used: extra_config unsafe_use_conditional_create is false"
            )
            return

        async def put_if_absent() -> None:
            await obstore.put_async(store, self.once_key, PAYLOAD, mode="create")

        first = await self._try(credentials, put_if_absent)
        if first is not None:
            self.steps.fault(CONDITIONAL, first)
            return
        self.written.append(self.once_key)
        try:
            await put_if_absent()
        except Exception as exc:
            kind = type(exc).__name__
            if "AlreadyExists" in kind or "Precondition" in kind:
                self.steps.record(CONDITIONAL, "ok")
            else:
                self.steps.fault(CONDITIONAL, classify(self.bucket, exc, credentials))
        else:
            self.steps.record(CONDITIONAL, "failed", IGNORED_CONDITION)

    async def _delete(self, store: Any, credentials: AnyCredentials | None) -> None:
        for key in list(self.written):
            fault = await self._try(credentials, functools.partial(obstore.delete_async, store, key))
            if fault is not None:
                self.steps.fault(DELETE, fault)
                return
            if not await self._gone(store, key):
                self.steps.record(DELETE, "failed", "the object was still there after it was deleted")
                return
            self.written.remove(key)
        self.steps.record(DELETE, "ok")

    async def _gone(self, store: Any, key: str) -> bool:
        try:
            await obstore.head_async(store, key)
        except FileNotFoundError:
            return True
        except Exception:
            return False
        return False

    async def _clean_up(self) -> bool:
        """Remove what the check wrote and could not delete itself, with the service's own credentials."""
        if not self.written:
            return True
        try:
            service_store = storage_ops.object_store(
                self.bucket, await self.vendor.for_service(self.bucket, self.bucket.prefix)
            )
            for key in self.written:
                await obstore.delete_async(service_store, key)
            left = [key for key in self.written if not await self._gone(service_store, key)]
        except Exception as exc:
            log.warning(
                "scratch keys left behind",
                bucket=self.bucket.nickname,
                keys=self.written,
                error=type(exc).__name__,
            )
            return False
        if left:
            log.warning("scratch keys left behind", bucket=self.bucket.nickname, keys=left)
        return not left


# ------------------------------------------------------------------------------------------ local buckets

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


async def _run_local(bucket: BucketResponse, scratch: str, steps: _Steps) -> bool:
    return await asyncio.to_thread(_LocalCheck(bucket, scratch, steps).run)


def _os_cause(exc: OSError) -> str:
    if isinstance(exc, ServiceError):
        return str(exc.detail)
    return exc.strerror or type(exc).__name__


class _LocalCheck:
    """The same capabilities in a ``local`` bucket's directory, opened one component at a time without
    following a symbolic link (clients write there themselves)."""

    def __init__(self, bucket: BucketResponse, scratch: str, steps: _Steps):
        self.bucket, self.steps = bucket, steps
        self.root = Path(local_bucket_path(bucket))
        self.prefix_parts = [p for p in bucket.prefix.split("/") if p]
        self.scratch_parts = scratch.split("/")[len(self.prefix_parts) :]
        self.made_roots: list[Path] = []
        self.made: list[tuple[int, str]] = []  # (parent directory fd, name) of directories the check made
        self.fds: list[int] = []
        self.scratch_fd: int | None = None

    def run(self) -> bool:
        self.steps.record(CREDENTIALS, "ok")
        try:
            self._capabilities()
        finally:
            cleaned_up = self._clean_up()
        return cleaned_up

    def _enter(self, parent: int, name: str) -> int:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, PRIVATE_DIR, dir_fd=parent)
            self.made.append((parent, name))
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) and stat.S_ISLNK(
                os.lstat(name, dir_fd=parent).st_mode
            ):
                log.warning("symbolic link refused", bucket=self.bucket.nickname, path=name)
                raise OSError(
                    errno.ELOOP, f"{name!r} is a symbolic link, which the service does not follow"
                ) from exc
            raise
        self.fds.append(fd)
        return fd

    def _capabilities(self) -> None:
        steps = self.steps
        try:
            self.made_roots = [p for p in (self.root, *self.root.parents) if not os.path.lexists(p)]
            private_dir(self.root)
            fd = os.open(self.root, _DIR_FLAGS)
            self.fds.append(fd)
            for part in self.prefix_parts:
                fd = self._enter(fd, part)
            os.listdir(fd)
        except OSError as exc:
            cause = f"the directory of bucket config {self.bucket.nickname!r}: {_os_cause(exc)}"
            steps.record(LIST, "failed", cause)
            steps.skip_rest("not tried: the directory is not usable")
            return
        steps.record(LIST, "ok")
        try:
            for part in self.scratch_parts:
                fd = self._enter(fd, part)
            self.scratch_fd = fd
            self._write(fd, "object")
        except OSError as exc:
            steps.record(WRITE, "failed", _os_cause(exc))
            steps.skip_rest(NOTHING_WRITTEN)
            return
        steps.record(WRITE, "ok")
        try:
            with os.fdopen(
                os.open("object", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd), "rb"
            ) as f:
                same = f.read() == PAYLOAD
            steps.record(READ, "ok" if same else "failed", None if same else "other bytes than were written")
        except OSError as exc:
            steps.record(READ, "failed", _os_cause(exc))
        try:
            self._write(fd, "put-if-absent")
            try:
                self._write(fd, "put-if-absent")
                steps.record(CONDITIONAL, "failed", IGNORED_CONDITION)
            except FileExistsError:
                steps.record(CONDITIONAL, "ok")
        except OSError as exc:
            steps.record(CONDITIONAL, "failed", _os_cause(exc))
        try:
            for name in os.listdir(fd):
                os.unlink(name, dir_fd=fd)
            steps.record(DELETE, "ok")
        except OSError as exc:
            steps.record(DELETE, "failed", _os_cause(exc))

    def _write(self, directory: int, name: str) -> None:
        with os.fdopen(os.open(name, _NEW_FILE, PRIVATE_FILE, dir_fd=directory), "wb") as f:
            f.write(PAYLOAD)

    def _clean_up(self) -> bool:
        """Remove the scratch directory and every directory the check made, deepest first; whether the
        scratch directory is gone. A directory that others filled meanwhile stays."""
        try:
            if self.scratch_fd is not None:
                for name in os.listdir(self.scratch_fd):
                    os.unlink(name, dir_fd=self.scratch_fd)
            for parent, name in reversed(self.made):
                _remove_empty(name, parent)
            for path in self.made_roots:
                _remove_empty(str(path), None)
            return not os.path.lexists(self.root.joinpath(*self.prefix_parts, *self.scratch_parts))
        except OSError as exc:
            log.warning("scratch directory left behind", bucket=self.bucket.nickname, error=_os_cause(exc))
            return False
        finally:
            for fd in reversed(self.fds):
                os.close(fd)


def _remove_empty(name: str, parent: int | None) -> None:
    try:
        os.rmdir(name, dir_fd=parent)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
