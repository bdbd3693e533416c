"""Where the service connects, and which secrets reach whom (security review items 3 and 6), against real
service processes and SeaweedFS with STS enforced."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from arraylake import Client
from arraylake.types import OrgRole
from tests.conftest import make_service
from tests.support.cli import Cli
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService, Org
from tests.test_credential_vending import fill, open_info

pytestmark = pytest.mark.usefixtures("home")


def bearer(org: Org, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=org.url, headers={"authorization": f"Bearer {token or org.token}"}, timeout=60
    )


def sts_auth(sts_endpoint: str) -> dict[str, str]:
    """An sts_assume_role auth config whose STS is ``sts_endpoint``."""
    return {
        "method": "sts_assume_role",
        "role_arn": "arn:aws:iam::000000000000:role/R",
        "access_key_id": "k",
        "secret_access_key": "s",
        "sts_endpoint_url": sts_endpoint,
    }


def reader_token(org: Org, role: OrgRole = OrgRole.REPO_READER) -> str:
    made = Client(org.url, token=org.token).create_api_client(org.name, f"c-{role.value}", role=role)
    return made.token.token.get_secret_value()


# ------------------------------------------------------------------------------------ 3. SSRF


@pytest.fixture
def public_only(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArraylakeService]:
    """A service with the default egress rule: bucket configs may name public addresses only."""
    service = make_service(tmp_path, "sqlite", request, {"ARRAYLAKE_SERVER_ENDPOINT_NETWORKS": "public"})
    service.start()
    yield service
    service.stop()


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [
        ("http://127.0.0.1:9000", "loopback"),
        ("http://localhost:9000", "loopback"),
        ("http://[::1]:9000", "loopback"),
        ("http://[::ffff:127.0.0.1]:9000", "loopback"),
        ("http://2130706433:9000", "loopback"),  # 127.0.0.1 written as one number
        ("http://169.254.169.254", "link-local"),  # the cloud metadata service
        ("http://10.0.0.8:9000", "private"),
        ("http://192.168.1.1", "private"),
    ],
)
def test_bucket_configs_may_not_name_internal_endpoints(
    public_only: ArraylakeService, endpoint: str, kind: str
) -> None:
    org = public_only.new_org("ssrf", local_bucket=False)
    config = {
        "nickname": "inside",
        "platform": "s3-compatible",
        "name": "bkt",
        "extra_config": {"endpoint_url": endpoint},
        "auth_config": {"method": "anonymous"},
    }
    sts = {
        **config,
        "nickname": "inside-sts",
        "extra_config": {"endpoint_url": "https://s3.example.com"},
        "auth_config": sts_auth(endpoint),
    }
    with bearer(org) as h:
        for body in (config, sts):
            answer = h.post(f"/orgs/{org.name}/buckets", json=body)
            assert answer.status_code == 422, answer.text
            assert f"{kind} address" in answer.json()["detail"], answer.text
        assert h.get(f"/orgs/{org.name}/buckets").json() == []
        made = h.post(
            f"/orgs/{org.name}/buckets",
            json={**config, "extra_config": {"endpoint_url": "https://s3.example.com"}},
        )
        assert made.status_code == 201, made.text
        moved = h.patch(
            f"/orgs/{org.name}/buckets/{made.json()['id']}", json={"extra_config": {"endpoint_url": endpoint}}
        )
        assert moved.status_code == 422 and f"{kind} address" in moved.json()["detail"]
        kept = h.get(f"/orgs/{org.name}/buckets/{made.json()['id']}").json()
        assert kept["extra_config"]["endpoint_url"] == "https://s3.example.com"


@pytest.mark.parametrize(
    "junk",
    ["not a url", "ftp://host", "http://", "http://host:99999", "http://user:pw@host", "http://h/?q=1"],
)
def test_junk_sts_endpoints_are_refused_clearly(public_only: ArraylakeService, junk: str) -> None:
    org = public_only.new_org("junk", local_bucket=False)
    body = {
        "nickname": "junk",
        "platform": "s3",
        "name": "bkt",
        "extra_config": {"region_name": "us-east-1"},
        "auth_config": sts_auth(junk),
    }
    with bearer(org) as h:
        answer = h.post(f"/orgs/{org.name}/buckets", json=body)
        assert answer.status_code == 422 and "sts_endpoint_url" in answer.text, answer.text
        assert h.get(f"/orgs/{org.name}/buckets").json() == []


def test_endpoints_are_checked_again_when_the_service_connects(
    fresh_service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    """A config that was allowed when it was saved is refused at the next connection once the operator
    no longer allows its network (the same holds for a name that later resolves elsewhere)."""
    fresh_service.start()
    org = fresh_service.new_org("later", local_bucket=False)
    admin = Client(org.url, token=org.token)
    admin.create_bucket_config(org=org.name, nickname="weed", **seaweed.sts_bucket_config(s3_bucket))
    admin.set_default_bucket_config(org=org.name, nickname="weed")
    fill(admin.create_repo(f"{org.name}/kept"), 1.0)
    fresh_service.stop()
    fresh_service.env["ARRAYLAKE_SERVER_ENDPOINT_NETWORKS"] = "public"
    fresh_service.start()
    with bearer(org) as h:
        opened = h.get(f"/repos/{org.name}/kept/open")
        assert opened.status_code == 424 and "loopback address" in opened.json()["detail"], opened.text
        assert "aws_session_token" not in opened.text
        created = h.post(f"/orgs/{org.name}/repos", json={"name": "more", "create_mode": "create"})
        assert created.status_code == 424, created.text
        sure = {"imsure": "true", "imreallysure": "true", "immediate": "true"}
        deleted = h.delete(f"/orgs/{org.name}/kept", params=sure)
        assert deleted.status_code == 202, deleted.text  # the removal of the data waits for a usable endpoint
    assert seaweed.keys(s3_bucket), "nothing was removed through a refused endpoint"


class _NoisySts(BaseHTTPRequestHandler):
    """An STS that refuses with words and a code of its own, which must not reach the caller."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = (
            b"<ErrorResponse><Error><Code>InternalBannerCode</Code>"
            b"<Message>host db-7.corp.internal said: token=hunter2</Message></Error></ErrorResponse>"
        )
        self.send_response(403)
        self.send_header("content-type", "text/xml")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_upstream_errors_are_not_reflected_to_readers(service: ArraylakeService, s3_bucket: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoisySts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        org = service.new_org("noisy", local_bucket=False)
        body = {
            "nickname": "noisy",
            "platform": "s3",
            "name": s3_bucket,
            "extra_config": {"region_name": "us-east-1"},
            "auth_config": sts_auth(f"http://127.0.0.1:{server.server_address[1]}"),
        }
        with bearer(org) as h:
            assert h.post(f"/orgs/{org.name}/buckets", json=body).status_code == 201
            registered = h.post(f"/orgs/{org.name}/repos", json={"name": "rr", "bucket_nickname": "noisy"})
            assert registered.status_code == 201, registered.text
        with bearer(org, reader_token(org)) as h:
            answer = h.get(f"/repos/{org.name}/rr/open")
        assert answer.status_code == 502, answer.text
        assert (
            "STS refused to issue credentials for bucket config 'noisy': refused" in answer.json()["detail"]
        )
        for leaked in ("InternalBannerCode", "hunter2", "corp.internal"):
            assert leaked not in answer.text
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------ 6. who gets what


def test_hmac_buckets_can_keep_their_keys_from_readers(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org = service.new_org("hmac", local_bucket=False)
    admin = Client(org.url, token=org.token)
    config = seaweed.bucket_config(s3_bucket)
    config["auth_config"]["writers_only"] = True
    admin.create_bucket_config(org=org.name, nickname="keys", **config)
    admin.set_default_bucket_config(org=org.name, nickname="keys")
    fill(admin.create_repo(f"{org.name}/data"), 3.0)

    with bearer(org, reader_token(org)) as h:
        refused = h.get(f"/repos/{org.name}/data/open")
        assert refused.status_code == 403, refused.text
        assert "HMAC keys" in refused.json()["detail"] and "may only read" in refused.json()["detail"]
        assert config["auth_config"]["secret_access_key"] not in refused.text
        assert h.get(f"/repos/{org.name}/data/bucket-credentials").status_code == 403
    writer = reader_token(org, OrgRole.REPO_WRITER)
    assert open_info(org, "data", writer, "read")["repo_credentials"]["aws_access_key_id"]
    opened = Client(org.url, token=writer).get_repo(f"{org.name}/data", read_only=True)
    assert opened.readonly_session("main").store is not None


def test_readers_are_told_when_reading_is_not_read_only(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org = service.new_org("told")
    cli = Cli(service.url, org.token)
    config = seaweed.bucket_config(s3_bucket)
    auth = [f"--auth={k}={v}" for k, v in config["auth_config"].items()]
    extra = [f"--extra={k}={v}" for k, v in config["extra_config"].items()]
    made = cli("bucket", "create", org.name, "shared-keys", f"s3://{s3_bucket}", *extra, *auth)
    assert "receive the bucket's HMAC keys, which can write the whole bucket" in made.stderr
    restricted = cli(
        "bucket",
        "create",
        org.name,
        "kept-keys",
        f"s3://{s3_bucket}",
        *extra,
        *auth,
        "--auth=writers_only=true",
    )
    assert "Warning" not in restricted.stderr
    listing = cli("bucket", "list", org.name).stdout
    assert "writers only" in listing and "can write the whole" in listing
    Client(org.url, token=org.token).create_repo(f"{org.name}/dir")  # in the local default bucket
    assert "readers can also write" in cli("repo", "info", f"{org.name}/dir").stdout


def test_sts_external_ids_are_masked(service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str) -> None:
    org = service.new_org("extid", local_bucket=False)
    admin = Client(org.url, token=org.token)
    marker = "customer-chosen-external-id-4711"
    admin.create_bucket_config(
        org=org.name, nickname="sts", **seaweed.sts_bucket_config(s3_bucket, external_id=marker)
    )
    for token in (org.token, reader_token(org)):
        with bearer(org, token) as h:
            listed = h.get(f"/orgs/{org.name}/buckets").text
            assert marker not in listed and '"external_id":"********"' in listed.replace(" ", "")


def test_read_sessions_cannot_list_sibling_prefixes(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org = service.new_org("sibling", local_bucket=False)
    admin = Client(org.url, token=org.token)
    admin.create_bucket_config(org=org.name, nickname="sts", **seaweed.sts_bucket_config(s3_bucket))
    admin.set_default_bucket_config(org=org.name, nickname="sts")
    fill(admin.create_repo(f"{org.name}/alpha"), 1.0)
    prefix = admin.get_repo_object(f"{org.name}/alpha").prefix
    seaweed.s3().put_object(Bucket=s3_bucket, Key=f"{prefix}-sibling/secret-name", Body=b"x")
    creds = open_info(org, "alpha", reader_token(org), "read")["repo_credentials"]
    s3 = seaweed.s3_with(creds)
    own = s3.list_objects_v2(Bucket=s3_bucket, Prefix=prefix + "/")
    assert own.get("KeyCount", 0) > 0
    try:
        sideways = s3.list_objects_v2(Bucket=s3_bucket, Prefix=prefix)
        names = [o["Key"] for o in sideways.get("Contents", [])]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied"
        names = []
    assert not [n for n in names if "sibling" in n]
