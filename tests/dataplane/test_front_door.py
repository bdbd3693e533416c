"""The front door against a real service: URLs, auth through the service, refs, snapshot-pinned caching
headers and size limits, over the Zarr protocol (the lightest plugin)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from arraylake import Client
from arraylake.types.compute import ServiceType
from arraylake.types.orgs import OrgRole
from tests.dataplane.frontdoor import EMPTY_GROUP, NESTED_GROUP, Published, api_token, data_plane, publish
from tests.support.processes import ManagedProcess, free_port, http_ok, wait_until
from tests.support.service import ArraylakeService

pytestmark = pytest.mark.parametrize("service", ["sqlite"], indirect=True)

ROOT_METADATA = "zarr/zarr.json"


@pytest.fixture(scope="module")
def published(service: ArraylakeService) -> Published:
    return publish(service)


@pytest.fixture(scope="module")
def base(published: Published) -> Iterator[str]:
    """The data plane's URL prefix of the published repo: ``{url}/{org}/{repo}``."""
    with data_plane(published, ServiceType.ZARR) as url:
        yield f"{url}/{published.full_name}"


@pytest.fixture(scope="module")
def auth(published: Published) -> tuple[str, str]:
    return (published.org.name, published.org.token)


def test_health_names_protocol_and_deployment(base: str) -> None:
    response = httpx.get(base.rsplit("/", 2)[0] + "/_health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "protocol": "zarr", "deployment": "zarr-test"}


def test_no_credentials_on_a_private_deployment_is_401_with_a_basic_challenge(base: str) -> None:
    response = httpx.get(f"{base}/main/{ROOT_METADATA}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="')
    assert "API token" in response.json()["detail"]


def test_basic_and_bearer_credentials_read(base: str, auth: tuple[str, str], published: Published) -> None:
    basic = httpx.get(f"{base}/main/{ROOT_METADATA}", auth=auth)
    bearer = httpx.get(
        f"{base}/main/{ROOT_METADATA}", headers={"Authorization": f"Bearer {published.org.token}"}
    )
    assert basic.status_code == bearer.status_code == 200
    assert set(basic.json()["consolidated_metadata"]["metadata"]) >= {"air", "wind", "lat", "lon", "time"}


def test_bad_credentials_are_401(base: str, published: Published) -> None:
    wrong_user = httpx.get(f"{base}/main/{ROOT_METADATA}", auth=("someone", published.org.token))
    assert wrong_user.status_code == 401 and published.org.name in wrong_user.json()["detail"]
    not_a_token = httpx.get(f"{base}/main/{ROOT_METADATA}", auth=(published.org.name, "hunter2"))
    assert not_a_token.status_code == 401
    revoked_like = httpx.get(f"{base}/main/{ROOT_METADATA}", auth=(published.org.name, "ema_" + "0" * 40))
    assert revoked_like.status_code == 401
    assert "ema_" not in revoked_like.text


def test_another_orgs_url_is_404(base: str, auth: tuple[str, str]) -> None:
    url = base.rsplit("/", 2)[0]
    response = httpx.get(f"{url}/someone-else/cf/main/{ROOT_METADATA}", auth=auth)
    assert response.status_code == 404
    assert "someone-else" in response.json()["detail"]


def test_unknown_or_other_protocol_suffix_is_404(base: str, auth: tuple[str, str]) -> None:
    other = httpx.get(f"{base}/main/wms", params={"request": "GetCapabilities"}, auth=auth)
    assert other.status_code == 404
    assert "serves zarr" in other.json()["detail"] and "not wms" in other.json()["detail"]
    unknown = httpx.get(f"{base}/main/ftp/zarr.json", auth=auth)
    assert unknown.status_code == 404 and "/zarr/" in unknown.json()["detail"]


def test_missing_repo_ref_and_group_are_404_with_a_detail(base: str, auth: tuple[str, str]) -> None:
    org_url = base.rsplit("/", 1)[0]
    repo = httpx.get(f"{org_url}/no-such-repo/main/{ROOT_METADATA}", auth=auth)
    assert repo.status_code == 404 and "no-such-repo" in repo.json()["detail"]
    ref = httpx.get(f"{base}/no-such-branch/{ROOT_METADATA}", auth=auth)
    assert ref.status_code == 404 and "no-such-branch" in ref.json()["detail"]
    group = httpx.get(f"{base}/main/no/such/group/{ROOT_METADATA}", auth=auth)
    assert group.status_code == 404 and "no/such/group" in group.json()["detail"]
    not_a_dataset = httpx.get(f"{base}/main/{EMPTY_GROUP}/{ROOT_METADATA}", auth=auth)
    assert not_a_dataset.status_code == 404 and "holds no arrays" in not_a_dataset.json()["detail"]


def test_a_nested_group_is_a_dataset(base: str, auth: tuple[str, str], published: Published) -> None:
    response = httpx.get(f"{base}/main/{NESTED_GROUP}/zarr/air/c/0/0/0", auth=auth)
    assert response.status_code == 200
    assert len(response.content) > 0


def test_access_follows_the_callers_repo_permissions(base: str, published: Published) -> None:
    member = api_token(published, OrgRole.MEMBER)
    refused = httpx.get(f"{base}/main/{ROOT_METADATA}", auth=(published.org.name, member))
    assert refused.status_code in (403, 404)
    assert "detail" in refused.json()
    reader = api_token(published, OrgRole.REPO_READER)
    allowed = httpx.get(f"{base}/main/{ROOT_METADATA}", auth=(published.org.name, reader))
    assert allowed.status_code == 200


def test_branch_responses_revalidate_with_a_snapshot_etag(
    base: str, auth: tuple[str, str], published: Published
) -> None:
    first = httpx.get(f"{base}/main/{ROOT_METADATA}", auth=auth)
    assert first.headers["x-arraylake-snapshot"] == published.snapshot
    assert first.headers["cache-control"] == "no-cache"
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    again = httpx.get(f"{base}/main/{ROOT_METADATA}", auth=auth, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag and again.content == b""
    other_path = httpx.get(f"{base}/main/zarr/air/zarr.json", auth=auth, headers={"If-None-Match": etag})
    assert other_path.status_code == 200 and other_path.headers["etag"] != etag


def test_304_still_needs_read_permission(base: str, auth: tuple[str, str]) -> None:
    etag = httpx.get(f"{base}/main/{ROOT_METADATA}", auth=auth).headers["etag"]
    anonymous = httpx.get(f"{base}/main/{ROOT_METADATA}", headers={"If-None-Match": etag})
    assert anonymous.status_code == 401


@pytest.mark.parametrize("ref", ["tag", "snapshot"])
def test_tag_and_snapshot_responses_are_immutable(
    base: str, auth: tuple[str, str], published: Published, ref: str
) -> None:
    name = published.tag if ref == "tag" else published.snapshot
    response = httpx.get(f"{base}/{name}/{ROOT_METADATA}", auth=auth)
    assert response.status_code == 200
    assert response.headers["x-arraylake-snapshot"] == published.snapshot
    assert response.headers["cache-control"] == "private, max-age=31536000, immutable"


def test_errors_are_not_cached(base: str, auth: tuple[str, str]) -> None:
    response = httpx.get(f"{base}/main/zarr/no_such_variable/zarr.json", auth=auth)
    assert response.status_code == 404
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


def test_a_moved_branch_gets_a_new_etag_and_new_values(published: Published, auth: tuple[str, str]) -> None:
    moving = publish(published.service, "moving", org=published.org)
    with data_plane(published, ServiceType.ZARR) as url:
        chunk_url = f"{url}/{moving.full_name}/main/zarr/air/c/0/0/0"
        before = httpx.get(chunk_url, auth=auth)
        assert before.status_code == 200
        changed = moving.source.copy(deep=True)
        changed["air"] = changed["air"] + 100
        new_snapshot = moving.commit(changed, "warmer")
        after = httpx.get(chunk_url, auth=auth, headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert after.headers["x-arraylake-snapshot"] == new_snapshot
        assert after.headers["etag"] != before.headers["etag"]
        assert after.content != before.content
        pinned = httpx.get(f"{url}/{moving.full_name}/{moving.snapshot}/zarr/air/c/0/0/0", auth=auth)
        assert pinned.content == before.content


def test_a_public_deployment_reads_anonymously_as_its_reader_token(published: Published) -> None:
    reader = api_token(published, OrgRole.REPO_READER)
    with data_plane(published, ServiceType.ZARR, is_public=True, reader_token=reader) as url:
        response = httpx.get(f"{url}/{published.full_name}/{published.tag}/{ROOT_METADATA}")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_a_chunk_over_the_response_limit_is_413_naming_the_limit(
    published: Published, auth: tuple[str, str]
) -> None:
    chunk_bytes = int(np.prod(published.source["air"].encoding["chunks"])) * 4
    with data_plane(published, ServiceType.ZARR, max_response_bytes=chunk_bytes - 1) as url:
        response = httpx.get(f"{url}/{published.full_name}/main/zarr/air/c/0/0/0", auth=auth)
        assert response.status_code == 413
        assert "limit" in response.json()["detail"]
        metadata = httpx.get(f"{url}/{published.full_name}/main/{ROOT_METADATA}", auth=auth)
        assert metadata.status_code == 200


def test_compute_serve_runs_stateless_replicas(
    published: Published, auth: tuple[str, str], tmp_path: Path
) -> None:
    """`arraylake compute serve` with two worker processes, as an operator runs it behind a load balancer:
    every request, whichever worker takes it, is authenticated and served through the service."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARRAYLAKE_")}
    args = [sys.executable, "-m", "arraylake", "compute", "serve", "--org", published.org.name]
    args += ["--protocol", "zarr", "--service-url", published.service.url, "--deployment", "zarr-ops"]
    args += ["--port", str(port), "--workers", "2", "--public-url", "https://data.example.org/zarr-ops"]
    process = ManagedProcess(args, tmp_path / "serve.log", env=env)
    process.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{url}/_health") or not process.running, 120, "compute serve")
        assert process.running, process.log_text()
        assert httpx.get(f"{url}/_health").json()["deployment"] == "zarr-ops"
        for _ in range(4):
            response = httpx.get(f"{url}/{published.full_name}/main/{ROOT_METADATA}", auth=auth)
            assert response.status_code == 200
            assert response.headers["x-arraylake-snapshot"] == published.snapshot
        assert httpx.get(f"{url}/{published.full_name}/main/{ROOT_METADATA}").status_code == 401
    finally:
        process.stop()
    assert published.org.token not in process.log_text()


def test_edr_and_dap2_plugins_answer_through_the_front_door(
    published: Published, auth: tuple[str, str]
) -> None:
    """Our own protocol plugins load by protocol and answer at the public URLs (their own tests cover
    the protocols): EDR's collection links point at the public URL, DAP2's ``opendap.dds`` is routed."""
    with data_plane(published, ServiceType.EDR) as url:
        edr = f"{url}/{published.full_name}/{published.tag}/edr"
        collection = httpx.get(edr, auth=auth, timeout=60)
        assert collection.status_code == 200, collection.text
        assert "/datasets/" not in collection.text and edr in collection.text
        assert f"{published.org.name}~" not in collection.text  # nor the internal dataset id
        position = httpx.get(
            f"{edr}/position",
            params={"coords": "POINT(0 0)", "parameter-name": "air", "f": "csv"},
            auth=auth,
            timeout=60,
        )
        assert position.status_code == 200, position.text
        assert position.headers["cache-control"].endswith("immutable")
    with data_plane(published, ServiceType.DAP2) as url:
        dds = httpx.get(f"{url}/{published.full_name}/main/opendap.dds", auth=auth, timeout=60)
        assert dds.status_code == 200, dds.text
        assert "air" in dds.text and dds.headers["x-arraylake-snapshot"] == published.snapshot
        das = httpx.get(f"{url}/{published.full_name}/main/opendap.das", auth=auth, timeout=60)
        assert das.status_code == 200 and f"{published.org.name}~" not in das.text


def test_head_answers_like_get_without_a_body(base: str, auth: tuple[str, str]) -> None:
    get = httpx.get(f"{base}/main/{ROOT_METADATA}", auth=auth)
    head = httpx.head(f"{base}/main/{ROOT_METADATA}", auth=auth)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]


def test_dap2_computes_on_a_configured_dask_scheduler(published: Published, auth: tuple[str, str]) -> None:
    """With DASK_SCHEDULER set, a DAP2 download is computed by that cluster's worker (another process,
    which receives the pickled store with its credentials and reads the storage itself)."""
    import distributed

    def transitions(dask_scheduler: distributed.Scheduler) -> int:
        return dask_scheduler.transition_counter

    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        before = client.run_on_scheduler(transitions)
        with data_plane(published, ServiceType.DAP2, dask_scheduler=cluster.scheduler_address) as url:
            response = httpx.get(
                f"{url}/{published.full_name}/main/opendap.dods", params="wind", auth=auth, timeout=60
            )
        assert response.status_code == 200
        assert published.source["wind"].values.astype(">f4").tobytes() in response.content
        assert client.run_on_scheduler(transitions) > before


def test_a_revoked_permission_takes_effect_within_the_store_cache_ttl(published: Published) -> None:
    admin = Client(published.service.url, token=published.org.token)
    member = api_token(published, OrgRole.MEMBER)
    member_id = admin.get_api_client_id_from_token(published.org.name, member)
    admin.grant_repo_access(published.full_name, member_id, ["CAN_READ"])
    ttl = 3.0
    with data_plane(published, ServiceType.ZARR, store_cache_ttl=ttl) as url:
        data_url = f"{url}/{published.full_name}/main/{ROOT_METADATA}"
        assert httpx.get(data_url, auth=(published.org.name, member)).status_code == 200
        admin.revoke_repo_access(published.full_name, member_id)
        revoked_at = time.monotonic()
        wait_until(
            lambda: httpx.get(data_url, auth=(published.org.name, member)).status_code in (403, 404),
            ttl + 10,
            "the revocation to take effect",
        )
        assert time.monotonic() - revoked_at <= ttl + 2


def test_datasets_beyond_the_cache_size_are_reopened(published: Published, auth: tuple[str, str]) -> None:
    seen: dict[str, bytes] = {}
    with data_plane(published, ServiceType.ZARR, store_cache_size=1) as url:
        for group in ("", NESTED_GROUP, "", NESTED_GROUP):
            path = f"{url}/{published.full_name}/main/{group + '/' if group else ''}zarr/wind/c/1/0/0"
            response = httpx.get(path, auth=auth)
            assert response.status_code == 200
            assert seen.setdefault(group, response.content) == response.content
