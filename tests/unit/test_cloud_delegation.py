"""The requests behind GCS and Azure credential delegation, against stand-in Google and Microsoft APIs."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

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


def gcs_answers(iam_status: int = 200) -> dict[str, httpx.Response]:
    return {
        "metadata.google.internal": httpx.Response(200, json={"access_token": "own-token"}),
        "iamcredentials.googleapis.com": httpx.Response(iam_status, json={"accessToken": "sa-token"}),
        "sts.googleapis.com": httpx.Response(200, json={"access_token": "narrow-token", "expires_in": 1800}),
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
        )
    assert isinstance(creds, GSCredentials)
    assert creds.access_token.get_secret_value() == "narrow-token" and creds.expiration is not None
    metadata, impersonate, exchange = recorder.requests
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
            target="sa@p.iam.gserviceaccount.com", bucket="b", prefix="", write=False
        )
    assert [urlsplit(str(r.url)).hostname for r in recorder.requests] == [
        "iamcredentials.googleapis.com",
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
                target="sa@p.iam.gserviceaccount.com", bucket="b", prefix="", write=False
            )


@pytest.mark.parametrize(("write", "permissions"), [(False, "rl"), (True, "racwdl")])
async def test_azure_user_delegation_sas(write: bool, permissions: str) -> None:
    recorder = Recorder(
        {
            "login.microsoftonline.com": httpx.Response(200, json={"access_token": "entra-token"}),
            "acct.blob.core.windows.net": httpx.Response(200, text=KEY_XML),
        }
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        creds = await AzureDelegation(http, "client-id", "client-secret").credentials(
            tenant_id="tenant-1", account="acct", container="data", write=write
        )
    assert isinstance(creds, AzureCredentials) and creds.storage_account == "acct"
    token_request, key_request = recorder.requests
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
        with pytest.raises(UpstreamRefused, match="storage account acct"):
            await AzureDelegation(http, "id", "wrong").credentials(
                tenant_id="t", account="acct", container="c", write=False
            )
