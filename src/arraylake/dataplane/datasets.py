"""The datasets the protocol plugins serve: one per (org, repo, snapshot, group), opened lazily.

The front door names each dataset with an internal id that holds the snapshot (some plugins cache per
dataset id, so an id that outlived a branch move would serve stale metadata) and opens it before handing
the request over; the provider plugin answers xpublish's ``get_dataset`` hook from the same cache.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, NamedTuple

import xarray as xr
from fastapi import HTTPException
from pydantic import PrivateAttr
from xpublish import Plugin, hookimpl

if TYPE_CHECKING:
    import icechunk

ID_SEPARATOR = "~"


class DatasetKey(NamedTuple):
    org: str
    repo: str
    snapshot: str
    group: str

    @property
    def internal_id(self) -> str:
        """One path segment naming the dataset (org and repo names never hold ``~``; the group is
        base64url-encoded, as it may hold any character)."""
        group = base64.urlsafe_b64encode(self.group.encode()).decode().rstrip("=")
        return ID_SEPARATOR.join((self.org, self.repo, self.snapshot, group))

    @classmethod
    def from_internal_id(cls, dataset_id: str) -> DatasetKey | None:
        parts = dataset_id.split(ID_SEPARATOR)
        if len(parts) != 4:
            return None
        org, repo, snapshot, group = parts
        try:
            decoded = base64.urlsafe_b64decode(group + "=" * (-len(group) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        return cls(org, repo, snapshot, decoded)


def open_dataset(repo: icechunk.Repository, key: DatasetKey) -> xr.Dataset:
    """The dataset of ``key``'s snapshot and group, lazily (Dask chunks = Zarr chunks) and CF-decoded;
    404 when the group does not exist or holds no arrays."""
    import zarr

    store = repo.readonly_session(snapshot_id=key.snapshot).store
    where = f"group {key.group!r}" if key.group else "the root group"
    try:
        group = zarr.open_group(store, path=key.group or None, mode="r", zarr_format=3)
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError, zarr.errors.NodeTypeValidationError):
        raise HTTPException(
            status_code=404, detail=f"{key.org}/{key.repo} has no {where} at this ref"
        ) from None
    if not any(True for _ in group.array_keys()):
        raise HTTPException(
            status_code=404,
            detail=f"{where} of {key.org}/{key.repo} holds no arrays, so it is not a dataset "
            f"(list the datasets with /{key.org}/_meta/discovery/{key.repo}/{{ref}})",
        )
    return xr.open_zarr(store, group=key.group or None, consolidated=False, chunks={}, zarr_format=3)


class DatasetCache:
    """Open datasets by key, least recently used out beyond ``size``; thread-safe (plugins call the
    provider from worker threads)."""

    def __init__(self, size: int):
        self.size = size
        self._datasets: OrderedDict[DatasetKey, xr.Dataset] = OrderedDict()
        self._repos: dict[tuple[str, str], icechunk.Repository] = {}
        self._lock = threading.Lock()

    def get(self, key: DatasetKey) -> xr.Dataset | None:
        with self._lock:
            found = self._datasets.get(key)
            if found is not None:
                self._datasets.move_to_end(key)
            return found

    def open(self, repo: icechunk.Repository, key: DatasetKey) -> xr.Dataset:
        """The dataset of ``key``, opened from ``repo`` unless cached (blocking: call from a thread)."""
        with self._lock:
            self._repos[(key.org, key.repo)] = repo
        found = self.get(key)
        if found is not None:
            return found
        dataset = open_dataset(repo, key)
        with self._lock:
            self._datasets[key] = dataset
            self._datasets.move_to_end(key)
            while len(self._datasets) > max(self.size, 1):
                self._datasets.popitem(last=False)
        return dataset

    def reopen(self, key: DatasetKey) -> xr.Dataset | None:
        """The dataset of ``key`` again, when it left the cache between the front door and the plugin."""
        with self._lock:
            repo = self._repos.get((key.org, key.repo))
        return None if repo is None else self.open(repo, key)


class ArraylakeDatasets(Plugin):
    """xpublish dataset provider: answers ``get_dataset`` for the internal ids the front door makes."""

    name: str = "arraylake-datasets"
    _cache: DatasetCache = PrivateAttr()

    def __init__(self, cache: DatasetCache, **data: Any):
        super().__init__(**data)
        self._cache = cache

    @hookimpl
    def get_datasets(self) -> list[str]:
        return []

    @hookimpl
    def get_dataset(self, dataset_id: str) -> xr.Dataset | None:
        key = DatasetKey.from_internal_id(dataset_id)
        if key is None:
            return None
        return self._cache.get(key) or self._cache.reopen(key)
