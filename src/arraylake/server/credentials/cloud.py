"""Delegated credentials on Google Cloud Storage and Azure Blob Storage.

GCS (``gcp_customer_managed_role``): the service, with its own Google identity, asks IAM Credentials for
an access token of the customer's service account, then narrows it with a Credential Access Boundary
(Security Token Service exchange) to objects under the repo's prefix, read-only or read-write.

Azure (``azure_credential_delegation``): the service signs in to the customer's Entra tenant with its
service principal, asks the storage account for a user delegation key, and signs a user delegation SAS
for the container (read, or read-write) with ``azure-storage-blob``. Blob SAS tokens cannot be narrowed to
a prefix outside hierarchical-namespace accounts, so the SAS covers the bucket config's container.

The HTTP client is injectable, which is how the requests are tested without the clouds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote
from xml.etree import ElementTree

import httpx
from azure.storage.blob import UserDelegationKey, generate_container_sas
from pydantic import SecretStr

from arraylake.server.errors import StorageUnavailable, UpstreamRefused
from arraylake.types import AzureCredentials, GSCredentials, utcnow

GCE_METADATA = "http://metadata.google.internal/computeMetadata/v1"
GCE_TOKEN_PATH = "/instance/service-accounts/default/token"  # noqa: S105 (a path)
IAM_CREDENTIALS = (
    "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{account}:generateAccessToken"
)
GOOGLE_STS = "https://sts.googleapis.com/v1/token"
ENTRA_TOKEN = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105 (a URL)
AZURE_STORAGE_SCOPE = "https://storage.azure.com/.default"
AZURE_API_VERSION = "2022-11-02"
LIFETIME = timedelta(hours=1)


def _checked(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 500:
        raise StorageUnavailable(f"{what}: the provider answered {response.status_code}; try again later")
    if response.status_code >= 400:
        raise UpstreamRefused(f"{what}: the provider refused ({response.status_code})")
    return response


# ------------------------------------------------------------------------------------------------------ GCS


def access_boundary(bucket: str, prefix: str, *, write: bool) -> dict:
    """A Credential Access Boundary allowing one bucket's objects under ``prefix``."""
    role = "inRole:roles/storage.objectAdmin" if write else "inRole:roles/storage.objectViewer"
    rule: dict = {
        "availableResource": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "availablePermissions": [role],
    }
    if prefix:
        root = prefix.rstrip("/")
        objects = f"projects/_/buckets/{bucket}/objects/{root}/"
        listing = f"api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith('{root}/')"
        rule["availabilityCondition"] = {
            "title": "repo prefix",
            "expression": f"resource.name.startsWith('{objects}') || {listing}",
        }
    return {"accessBoundary": {"accessBoundaryRules": [rule]}}


@dataclass
class GcsDelegation:
    """Mints downscoped GCS tokens for a target service account."""

    http: httpx.AsyncClient
    service_token: str | None = None
    """The service's own Google token; by default asked of the GCE metadata server."""

    async def _own_token(self) -> str:
        if self.service_token:
            return self.service_token
        answer = await self.http.get(GCE_METADATA + GCE_TOKEN_PATH, headers={"Metadata-Flavor": "Google"})
        return _checked(answer, "the service's Google identity").json()["access_token"]

    async def credentials(self, *, target: str, bucket: str, prefix: str, write: bool) -> GSCredentials:
        what = f"GCS delegation to {target}"
        own = await self._own_token()
        impersonated = await self.http.post(
            IAM_CREDENTIALS.format(account=quote(target, safe="@.")),
            headers={"Authorization": f"Bearer {own}"},
            json={"scope": ["https://www.googleapis.com/auth/devstorage.read_write"], "lifetime": "3600s"},
        )
        token = _checked(impersonated, what).json()["accessToken"]
        narrowed = await self.http.post(
            GOOGLE_STS,
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "subject_token": token,
                "options": json.dumps(access_boundary(bucket, prefix, write=write)),
            },
        )
        body = _checked(narrowed, what).json()
        lifetime = timedelta(seconds=int(body.get("expires_in", LIFETIME.total_seconds())))
        return GSCredentials(
            access_token=body["access_token"], principal=target, expiration=utcnow() + lifetime
        )


# ---------------------------------------------------------------------------------------------------- Azure


def _azure_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def user_delegation_key(xml: str) -> UserDelegationKey:
    """Parse the ``Get User Delegation Key`` answer."""
    # The storage account's own answer, over TLS; ElementTree resolves no external entities.
    root = ElementTree.fromstring(xml)  # noqa: S314
    key = UserDelegationKey()
    key.signed_oid = root.findtext("SignedOid")
    key.signed_tid = root.findtext("SignedTid")
    key.signed_start = root.findtext("SignedStart")
    key.signed_expiry = root.findtext("SignedExpiry")
    key.signed_service = root.findtext("SignedService")
    key.signed_version = root.findtext("SignedVersion")
    key.value = root.findtext("Value")
    return key


@dataclass
class AzureDelegation:
    """Signs user delegation SAS tokens with the service's Entra service principal."""

    http: httpx.AsyncClient
    client_id: str
    client_secret: str

    async def credentials(
        self, *, tenant_id: str, account: str, container: str, write: bool
    ) -> AzureCredentials:
        what = f"Azure delegation for storage account {account}"
        token = await self.http.post(
            ENTRA_TOKEN.format(tenant=quote(tenant_id)),
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "scope": AZURE_STORAGE_SCOPE,
            },
        )
        bearer = _checked(token, what).json()["access_token"]
        start, expiry = utcnow() - timedelta(minutes=5), utcnow() + LIFETIME
        body = (
            f"<?xml version='1.0' encoding='utf-8'?><KeyInfo><Start>{_azure_time(start)}</Start>"
            f"<Expiry>{_azure_time(expiry)}</Expiry></KeyInfo>"
        )
        answer = await self.http.post(
            f"https://{account}.blob.core.windows.net/",
            params={"restype": "service", "comp": "userdelegationkey"},
            headers={"Authorization": f"Bearer {bearer}", "x-ms-version": AZURE_API_VERSION},
            content=body,
        )
        key = user_delegation_key(_checked(answer, what).text)
        sas = generate_container_sas(
            account_name=account,
            container_name=container,
            user_delegation_key=key,
            permission="racwdl" if write else "rl",
            start=start,
            expiry=expiry,
        )
        return AzureCredentials(sas_token=SecretStr(sas), storage_account=account, expiration=expiry)
