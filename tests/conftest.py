"""Fixtures: a throwaway PostgreSQL, SeaweedFS as S3, and real Arraylake service processes."""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from arraylake.server.bootstrap import migrate
from tests.support.cli import isolated_home
from tests.support.postgres import PostgresCluster
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService, Org, run_coroutine

_db_counter = itertools.count()

# pytest-xdist gives its workers COLUMNS=80 and LINES=24: the command line would then wrap its tables at 80
# columns, where a pipe (as in a serial run) gets them as wide as their content.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedFS]:
    store = SeaweedFS()
    store.start()
    yield store
    store.stop()


def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    if backend == "sqlite":
        return None
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    return cluster.create_database(f"arraylake_{next(_db_counter)}")


def make_service(
    root: Path, backend: str, request: pytest.FixtureRequest, env: dict[str, str] | None = None
) -> ArraylakeService:
    """A service whose catalog is migrated but not yet started."""
    service = ArraylakeService(root, database_url(backend, request), env)
    run_coroutine(migrate(service.settings))
    return service


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArraylakeService]:
    """A running service per catalog backend, shared by the tests of a session."""
    svc = make_service(tmp_path_factory.mktemp(f"service-{request.param}"), request.param, request)
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture
def fresh_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArraylakeService]:
    """A service of its own (SQLite), for tests that stop, kill or reconfigure it."""
    svc = make_service(tmp_path, "sqlite", request)
    yield svc
    svc.stop()


@pytest.fixture
def org(service: ArraylakeService) -> Org:
    """A new org, with a local default bucket, in the shared service."""
    return service.new_org()


@pytest.fixture
def s3_bucket(seaweed: SeaweedFS) -> str:
    """A new, empty bucket in SeaweedFS."""
    return seaweed.create_bucket(f"bkt-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home and config directory of the test's own (where logins and config files go), and no
    ARRAYLAKE_* variables from outside."""
    with isolated_home(tmp_path, monkeypatch) as path:
        yield path
