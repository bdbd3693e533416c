"""A repo's files in a ``local`` bucket, checked and removed without ever following a symbolic link.

Clients write into local bucket directories themselves, so anything found there may be a link planted to
reach files outside the repo (another org's, say). Every directory is opened relative to its parent with
``O_NOFOLLOW``: a link is never descended into, and a directory swapped for a link mid-walk makes the open
fail rather than be followed. Links met inside a repo are removed themselves (never their targets); a
prefix that passes through a link is refused. Both are logged, with paths relative to the bucket.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Generator

from arraylake.server.errors import StorageRefused
from arraylake.server.logs import get_logger

log = get_logger("arraylake.server.local_tree")

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _refuse(bucket: str, path: str, why: str) -> StorageRefused:
    log.warning("symbolic link refused", bucket=bucket, path=path, reason=why)
    return StorageRefused(
        f"{path!r} in local bucket {bucket!r} {why}; the service does not follow symbolic links: "
        "remove the link, or use another prefix"
    )


def _open_dir(name: str, parent: int | None, *, bucket: str, path: str) -> int | None:
    """Open directory ``name`` (relative to ``parent``) without following a link; ``None`` if missing."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        if _is_link(name, parent):
            raise _refuse(bucket, path, "is a symbolic link") from exc
        raise StorageRefused(f"{path!r} in local bucket {bucket!r} is not a directory") from exc


def _is_link(name: str, parent: int | None) -> bool:
    # O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR or ELOOP, as on a file: lstat tells them apart.
    try:
        return stat.S_ISLNK(os.lstat(name, dir_fd=parent).st_mode)
    except FileNotFoundError:
        return False


def _open_parent(root: str, parts: list[str], bucket: str) -> int | None:
    """The directory holding the last of ``parts``, reached from the bucket directory ``root`` one
    component at a time; ``None`` if some component is missing."""
    fd = _open_dir(root, None, bucket=bucket, path=".")
    for depth, part in enumerate(parts[:-1]):
        if fd is None:
            return None
        try:
            child = _open_dir(part, fd, bucket=bucket, path="/".join(parts[: depth + 1]))
        finally:
            os.close(fd)
        fd = child
    return fd


def _split(prefix: str) -> list[str]:
    parts = prefix.strip("/").split("/")
    if not prefix.strip("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"refusing the local prefix {prefix!r}")
    return parts


def _holds_files(fd: int, where: str, bucket: str) -> bool:
    """Whether the directory ``fd`` holds a file at any depth (empty directories are no objects)."""
    with os.scandir(fd) as entries:
        for entry in entries:
            path = f"{where}/{entry.name}"
            if entry.is_symlink():
                raise _refuse(bucket, path, "is a symbolic link")
            if not entry.is_dir(follow_symlinks=False):
                return True
            child = _open_dir(entry.name, fd, bucket=bucket, path=path)
            if child is None:
                continue
            try:
                if _holds_files(child, path, bucket):
                    return True
            finally:
                os.close(child)
    return False


def prefix_is_empty(root: str, prefix: str, bucket: str) -> bool:
    """Whether no file lies under ``prefix`` of the local bucket at ``root``; refuses any link on the way."""
    parts = _split(prefix)
    parent = _open_parent(root, parts, bucket)
    if parent is None:
        return True
    try:
        top = _open_dir(parts[-1], parent, bucket=bucket, path=prefix)
    finally:
        os.close(parent)
    if top is None:
        return True
    try:
        return not _holds_files(top, prefix, bucket)
    finally:
        os.close(top)


def check_no_links(root: str, prefix: str, bucket: str) -> None:
    """Refuse a ``prefix`` whose own path (not its contents) passes through a symbolic link."""
    parts = _split(prefix)
    parent = _open_parent(root, parts, bucket)
    if parent is None:
        return
    try:
        top = _open_dir(parts[-1], parent, bucket=bucket, path=prefix)
    finally:
        os.close(parent)
    if top is not None:
        os.close(top)


def _unlink_link(name: str, parent: int, *, bucket: str, path: str) -> None:
    os.unlink(name, dir_fd=parent)
    log.warning("symbolic link removed, its target left alone", bucket=bucket, path=path)


def _remove_contents(fd: int, where: str, bucket: str) -> Generator[None, None, None]:
    """Remove everything inside the directory ``fd``; yields once per file or link removed."""
    with os.scandir(fd) as entries:
        for entry in entries:
            path = f"{where}/{entry.name}"
            if entry.is_symlink():
                _unlink_link(entry.name, fd, bucket=bucket, path=path)
                yield
            elif entry.is_dir(follow_symlinks=False):
                yield from _remove_dir(entry.name, fd, path, bucket)
            else:
                os.unlink(entry.name, dir_fd=fd)
                yield


def _remove_dir(name: str, parent: int, path: str, bucket: str) -> Generator[None, None, None]:
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        return
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR) or not _is_link(name, parent):
            raise
        # Swapped for a link since it was listed: the link goes, what it points at stays.
        _unlink_link(name, parent, bucket=bucket, path=path)
        yield
        return
    try:
        yield from _remove_contents(fd, path, bucket)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


def remove_prefix(root: str, prefix: str, bucket: str) -> Generator[None, None, None]:
    """Remove ``prefix`` of the local bucket at ``root`` and everything under it; yields once per file or
    link removed. A link as the prefix directory itself is removed (not followed); a link further up is
    refused with :class:`StorageRefused`."""
    parts = _split(prefix)
    parent = _open_parent(root, parts, bucket)
    if parent is None:
        return
    try:
        try:
            mode = os.lstat(parts[-1], dir_fd=parent).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            _unlink_link(parts[-1], parent, bucket=bucket, path=prefix)
            yield
        elif stat.S_ISDIR(mode):
            yield from _remove_dir(parts[-1], parent, prefix, bucket)
    finally:
        os.close(parent)
