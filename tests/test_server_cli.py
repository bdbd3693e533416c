"""``arraylake server init`` and ``start`` as an operator runs them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from arraylake import Client
from arraylake.exceptions import ArraylakeNotFoundError
from tests.support.service import ArraylakeService


def test_init_twice_adds_an_org_and_leaves_the_first_alone(tmp_path: Path) -> None:
    service = ArraylakeService(tmp_path)
    first = service.cli("server", "init", "--data-dir", str(service.data_dir), "--org", "alpha")
    token_a = first.stdout.strip().splitlines()[-1]
    assert token_a.startswith("ema_")
    assert "alpha" in first.stdout and (service.data_dir / "storage" / "alpha" / "local").exists()

    second = service.cli(
        "server", "init", "--data-dir", str(service.data_dir), "--org", "beta", "--no-local-bucket"
    )
    token_b = second.stdout.strip().splitlines()[-1]
    assert token_b.startswith("ema_") and token_b != token_a
    assert not (service.data_dir / "storage" / "beta").exists()

    again = service.cli("server", "init", "--data-dir", str(service.data_dir), "--org", "alpha", check=False)
    assert again.returncode == 1
    assert "org alpha already exists" in again.stderr and "Traceback" not in again.stderr

    service.start()
    try:
        alpha = Client(service.url, token=token_a)
        beta = Client(service.url, token=token_b)
        alpha.create_repo("alpha/kept")
        assert [b.nickname for b in alpha.list_bucket_configs("alpha")] == ["local"]
        assert beta.list_bucket_configs("beta") == []
        # a token reaches only its own org: the other org does not exist for it
        with pytest.raises(ArraylakeNotFoundError, match="org alpha not found"):
            beta.list_repos("alpha")
        with pytest.raises(ArraylakeNotFoundError, match="org beta not found"):
            alpha.list_bucket_configs("beta")
        assert [r.name for r in alpha.list_repos("alpha")] == ["kept"]
        # no token at all: 401
        assert httpx.get(f"{service.url}/orgs/alpha/repos/paginated").status_code == 401
    finally:
        service.stop()


def test_tokens_are_stored_hashed(tmp_path: Path) -> None:
    service = ArraylakeService(tmp_path)
    token = service.cli(
        "server", "init", "--data-dir", str(service.data_dir), "--org", "gamma"
    ).stdout.splitlines()[-1]
    database = (service.data_dir / "catalog.db").read_bytes()
    assert token.encode() not in database
    with sqlite3.connect(service.data_dir / "catalog.db") as db:
        (hint,) = db.execute("select hint from api_tokens").fetchone()
    assert token.startswith(hint) and len(hint) < 10


def test_start_refuses_an_uninitialized_catalog(tmp_path: Path) -> None:
    service = ArraylakeService(tmp_path)
    with pytest.raises(RuntimeError, match="arraylake server init"):
        service.start()


def test_help_reads_well(tmp_path: Path) -> None:
    service = ArraylakeService(tmp_path)
    out = service.cli("server", "--help").stdout
    for command in ("init", "start", "migrate"):
        assert command in out
    init_help = service.cli("server", "init", "--help").stdout
    assert "--org" in init_help and "--no-local-bucket" in init_help and "last line" in init_help
