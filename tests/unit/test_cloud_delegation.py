"""The requests behind GCS and Azure credential delegation, against stand-in Google and Microsoft APIs."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from arraylake.server.credentials.binding import BindingMissing
from arraylake.server.credentials.cloud import AzureDelegation, GcsDelegation, access_boundary
from arraylake.server.errors import StorageUnavailable, UpstreamRefused
from arraylake.types import AzureCredentials, GSCredentials

KEY_XML = """<?xml version="1.0" encoding="utf-8"?><UserDelegationKey>
<SignedOid>11111111-2222-3333-4444-555555555555</SignedOid><SignedTid>tenant-1</SignedTid>
<SignedStart>2026-11-24T10:00:00Z</SignedStart><SignedExpiry>2026-11-24T11:00:00Z</SignedExpiry>
<SignedService>b</SignedService><SignedVersion>2022-11-02</SignedVersion>
<Value>c2VjcmV0LWtleS1mb3ItdGVzdHM=</Value></UserDelegationKey>"""


class Recorder:
    def __init__(self, answers: dict[str, httpx.Response]):
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for host_path, response in self.answers.items():
            if host_path in str(request.url):
                return response
        return httpx.Response(404)


BINDING = "0123456789abcdef0123456789abcdef"
LABEL, METADATA = f"arraylake-{BINDING}", f"arraylake_{BINDING}"


def gcs_answers(
    iam_status: int = 200, labels: dict[str, str] | None = None, bucket_status: int = 200
) -> dict[str, httpx.Response]:
    return {
        "metadata.google.internal": httpx.Response(200, json={"access_token": "own-token"}),
        "iamcredentials.googleapis.com": httpx.Response(iam_status, json={"accessToken": "sa-token"}),
        "storage.googleapis.com/storage/v1/b/": httpx.Response(
            bucket_status, json={"labels": {LABEL: "true"} if labels is None else labels}
        ),
        "sts.googleapis.com": httpx.Response(200, json={"access_token": "narrow-token", "expires_in": 1800}),
    }


def azure_answers(metadata: dict[str, str] | None = None) -> dict[str, httpx.Response]:
    headers = {f"x-ms-meta-{METADATA}": "true"} if metadata is None else metadata
    return {
        "login.microsoftonline.com": httpx.Response(200, json={"access_token": "entra-token"}),
        "comp=metadata": httpx.Response(200, headers=headers),
        "acct.blob.core.windows.net": httpx.Response(200, text=KEY_XML),
    }


@pytest.mark.parametrize(("write", "role"), [(False, "objectViewer"), (True, "objectAdmin")])
async def test_gcs_impersonates_then_narrows_to_the_prefix(write: bool, role: str) -> None:
    recorder = Recorder(gcs_answers())
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        creds = await GcsDelegation(http).credentials(
            target="reader@proj.iam.gserviceaccount.com",
            bucket="climate",
            prefix="team/abc-era5",
            write=write,
            label=LABEL,
        )
    assert isinstance(creds, GSCredentials)
    assert creds.access_token.get_secret_value() == "narrow-token" and creds.expiration is not None
    metadata, impersonate, labels, exchange = recorder.requests
    assert labels.url.path == "/storage/v1/b/climate" and labels.headers["authorization"] == "Bearer sa-token"
    assert metadata.headers["metadata-flavor"] == "Google"
    assert (
        impersonate.url.path
        == "/v1/projects/-/serviceAccounts/reader@proj.iam.gserviceaccount.com:generateAccessToken"
    )
    assert impersonate.headers["authorization"] == "Bearer own-token"
    assert json.loads(impersonate.content)["lifetime"] == "3600s"
    form = {k: v[0] for k, v in parse_qs(exchange.content.decode()).items()}
    assert form["subject_token"] == "sa-token"
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    rule = json.loads(form["options"])["accessBoundary"]["accessBoundaryRules"][0]
    assert rule["availableResource"] == "//storage.googleapis.com/projects/_/buckets/climate"
    assert rule["availablePermissions"] == [f"inRole:roles/storage.{role}"]
    assert "projects/_/buckets/climate/objects/team/abc-era5/" in rule["availabilityCondition"]["expression"]


async def test_gcs_uses_a_configured_service_token() -> None:
    recorder = Recorder(gcs_answers())
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        await GcsDelegation(http, service_token="configured").credentials(
            target="sa@p.iam.gserviceaccount.com", bucket="b", prefix="", write=False, label=LABEL
        )
    assert [urlsplit(str(r.url)).hostname for r in recorder.requests] == [
        "iamcredentials.googleapis.com",
        "storage.googleapis.com",
        "sts.googleapis.com",
    ]
    assert recorder.requests[0].headers["authorization"] == "Bearer configured"


def test_whole_bucket_boundary_has_no_condition() -> None:
    rule = access_boundary("b", "", write=False)["accessBoundary"]["accessBoundaryRules"][0]
    assert "availabilityCondition" not in rule


@pytest.mark.parametrize(("status", "error"), [(403, UpstreamRefused), (503, StorageUnavailable)])
async def test_gcs_failures_are_clear(status: int, error: type[Exception]) -> None:
    recorder = Recorder(gcs_answers(iam_status=status))
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        with pytest.raises(error, match=r"GCS delegation to sa@p\.iam\.gserviceaccount\.com"):
            await GcsDelegation(http).credentials(
                target="sa@p.iam.gserviceaccount.com", bucket="b", prefix="", write=False, label=LABEL
            )


@pytest.mark.parametrize(("write", "permissions"), [(False, "rl"), (True, "racwdl")])
async def test_azure_user_delegation_sas(write: bool, permissions: str) -> None:
    recorder = Recorder(azure_answers())
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        creds = await AzureDelegation(http, "client-id", "client-secret").credentials(
            tenant_id="tenant-1", account="acct", container="data", write=write, metadata=METADATA
        )
    assert isinstance(creds, AzureCredentials) and creds.storage_account == "acct"
    token_request, metadata_request, key_request = recorder.requests
    assert metadata_request.url.path == "/data" and metadata_request.method == "GET"
    assert metadata_request.headers["authorization"] == "Bearer entra-token"
    assert token_request.url.path == "/tenant-1/oauth2/v2.0/token"
    form = {k: v[0] for k, v in parse_qs(token_request.content.decode()).items()}
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "client-id",
        "client_secret": "client-secret",
        "scope": "https://storage.azure.com/.default",
    }
    assert dict(key_request.url.params) == {"restype": "service", "comp": "userdelegationkey"}
    assert (
        key_request.headers["authorization"] == "Bearer entra-token" and key_request.headers["x-ms-version"]
    )
    assert b"<KeyInfo><Start>" in key_request.content
    sas = parse_qs(creds.sas_token.get_secret_value())
    assert sas["sp"] == [permissions] and sas["sr"] == ["c"]
    assert sas["skoid"] == ["11111111-2222-3333-4444-555555555555"] and sas["sktid"] == ["tenant-1"]
    assert sas["sig"][0]


async def test_azure_refusal_is_clear() -> None:
    recorder = Recorder({"login.microsoftonline.com": httpx.Response(401, json={"error": "invalid_client"})})
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        with pytest.raises(UpstreamRefused, match="storage account acct") as refused:
            await AzureDelegation(http, "id", "wrong").credentials(
                tenant_id="t", account="acct", container="c", write=False, metadata=METADATA
            )
    assert "invalid_client" not in str(refused.value), "the provider's own words are not reflected"


# The confused deputy: org A names org B's service account or tenant. B's bucket or container carries B's
# binding, not A's, so the service refuses before it narrows a token or signs a SAS.

OTHER_ORG_LABEL = "arraylake-ffffffffffffffffffffffffffffffff"


@pytest.mark.parametrize(
    ("labels", "bucket_status"),
    [({}, 200), ({OTHER_ORG_LABEL: "true"}, 200), ({LABEL: "false"}, 200), ({LABEL: "true"}, 403)],
    ids=["no label", "another org's label", "label not true", "labels unreadable"],
)
async def test_gcs_refuses_a_bucket_not_bound_to_the_org(labels: dict[str, str], bucket_status: int) -> None:
    recorder = Recorder(gcs_answers(labels=labels, bucket_status=bucket_status))
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        with pytest.raises(BindingMissing, match=f"label it {LABEL}=true") as refused:
            await GcsDelegation(http).credentials(
                target="victim@p.iam.gserviceaccount.com",
                bucket="victims",
                prefix="",
                write=True,
                label=LABEL,
            )
    assert refused.value.status_code == 424
    assert not any("sts.googleapis.com" in str(r.url) for r in recorder.requests), "no narrowed token"


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-ms-meta-arraylake_ffffffffffffffffffffffffffffffff": "true"}, {f"x-ms-meta-{METADATA}": "no"}],
    ids=["no metadata", "another org's metadata", "metadata not true"],
)
async def test_azure_refuses_a_container_not_bound_to_the_org(headers: dict[str, str]) -> None:
    recorder = Recorder(azure_answers(metadata=headers))
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        with pytest.raises(BindingMissing, match=f"metadata {METADATA}=true"):
            await AzureDelegation(http, "id", "secret").credentials(
                tenant_id="victim-tenant", account="acct", container="c", write=True, metadata=METADATA
            )
    assert not any("userdelegationkey" in str(r.url) for r in recorder.requests), "no delegation key asked"
