"""Shared set-up of the front door tests: a repo with the CF dataset in a real service, and the data plane
serving it under uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import icechunk
import xarray as xr
import zarr

from arraylake import Client
from arraylake.dataplane.app import create_app
from arraylake.dataplane.settings import DataPlaneSettings
from arraylake.types.compute import ServiceType
from arraylake.types.orgs import OrgRole
from tests.dataplane.conftest import cf_dataset, serve
from tests.support.service import ArraylakeService, Org

NESTED_GROUP = "regional/cf"
EMPTY_GROUP = "notes"


@dataclass
class Published:
    """A repo of a new org holding the CF dataset at the root and in ``NESTED_GROUP`` (a group without
    arrays at ``EMPTY_GROUP``), committed on ``main`` and tagged ``v1``."""

    service: ArraylakeService
    org: Org
    repo_name: str
    repo: icechunk.Repository
    snapshot: str
    tag: str
    source: xr.Dataset

    @property
    def full_name(self) -> str:
        return f"{self.org.name}/{self.repo_name}"

    def commit(self, ds: xr.Dataset, message: str) -> str:
        """Overwrite the root dataset on ``main``; the new snapshot id."""
        session = self.repo.writable_session("main")
        ds.to_zarr(session.store, mode="w", consolidated=False, zarr_format=3)
        return session.commit(message)

    def settings(self, protocol: ServiceType, **overrides: Any) -> DataPlaneSettings:
        return DataPlaneSettings(
            service_url=self.service.url,
            org=self.org.name,
            deployment=f"{protocol.value}-test",
            protocol=protocol,
            store_cache_ttl=overrides.pop("store_cache_ttl", 0),
            **overrides,
        )


def publish(service: ArraylakeService, repo_name: str = "cf", *, org: Org | None = None) -> Published:
    """A repo named ``repo_name`` in ``org`` (a new org by default) with the CF dataset."""
    org = org or service.new_org("dp")
    client = Client(service.url, token=org.token)
    repo = client.create_repo(f"{org.name}/{repo_name}")
    assert isinstance(repo, icechunk.Repository)
    ds = cf_dataset()
    session = repo.writable_session("main")
    ds.to_zarr(session.store, mode="w", consolidated=False, zarr_format=3)
    ds.to_zarr(session.store, group=NESTED_GROUP, mode="w", consolidated=False, zarr_format=3)
    zarr.create_group(session.store, path=EMPTY_GROUP, attributes={"about": "no arrays here"})
    snapshot = session.commit("the CF dataset")
    repo.create_tag("v1", snapshot)
    return Published(service, org, repo_name, repo, snapshot, "v1", ds)


def api_token(published: Published, role: OrgRole) -> str:
    """A token of a new API client of the org with ``role`` (``member``: no repo granted)."""
    client = Client(published.service.url, token=published.org.token)
    created = client.create_api_client(published.org.name, f"dp-{role.value}", role=role)
    return created.token.token.get_secret_value()


@contextmanager
def data_plane(published: Published, protocol: ServiceType, **overrides: Any) -> Iterator[str]:
    """The data plane of ``published``'s org for ``protocol``, running; yields its base URL."""
    with serve(create_app(published.settings(protocol, **overrides))) as url:
        yield url
