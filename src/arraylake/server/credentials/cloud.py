"""Delegated credentials on Google Cloud Storage and Azure Blob Storage.

GCS (``gcp_customer_managed_role``): the service, with its own Google identity, asks IAM Credentials for
an access token of the customer's service account, then narrows it with a Credential Access Boundary
(Security Token Service exchange) to objects under the repo's prefix, read-only or read-write.

Azure (``azure_credential_delegation``): the service signs in to the customer's Entra tenant with its
service principal, asks the storage account for a user delegation key, and signs a user delegation SAS
for the container (read, or read-write) with ``azure-storage-blob``. Blob SAS tokens cannot be narrowed to
a prefix outside hierarchical-namespace accounts, so the SAS covers the bucket config's container.

Before vending either, the service checks, with the delegated identity, that the bucket or container
carries the org's binding (``binding``): otherwise one org could name another's service account or tenant.

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

from arraylake.server.credentials.binding import BOUND, BindingMissing
from arraylake.server.errors import StorageUnavailable, UpstreamRefused
from arraylake.types import AzureCredentials, GSCredentials, utcnow

GCE_METADATA = "http://metadata.google.internal/computeMetadata/v1"
GCE_TOKEN_PATH = "/instance/service-accounts/default/token"  # noqa: S105 (a path)
IAM_CREDENTIALS = (
    "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{account}:generateAccessToken"
)
GOOGLE_STS = "https://sts.googleapis.com/v1/token"
GCS_BUCKET = "https://storage.googleapis.com/storage/v1/b/{bucket}"
ENTRA_TOKEN = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"  # noqa: S105 (a URL)
AZURE_STORAGE_SCOPE = "https://storage.azure.com/.default"
AZURE_API_VERSION = "2022-11-02"
LIFETIME = timedelta(hours=1)


# What a caller may learn of a provider's refusal: a fixed vocabulary, never the provider's own words.
_REFUSALS = {
    400: "rejected the request",
    401: "refused the service's identity",
    403: "denied access",
    404: "does not know the target",
    429: "is throttling requests",
}


def _checked(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 500:
        raise StorageUnavailable(f"{what}: the provider is unavailable; try again later")
    if response.status_code >= 400:
        reason = _REFUSALS.get(response.status_code, "refused the request")
        raise UpstreamRefused(f"{what}: the provider {reason}")
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

    async def _check_label(self, token: str, bucket: str, label: str, target: str) -> None:
        """The bucket must carry ``label: true``, read as the impersonated account (binding.py)."""
        answer = await self.http.get(
            GCS_BUCKET.format(bucket=quote(bucket, safe="")),
            params={"fields": "labels"},
            headers={"Authorization": f"Bearer {token}"},
        )
        if answer.status_code >= 500:
            raise StorageUnavailable(f"GCS bucket {bucket!r}: the provider is unavailable; try again later")
        labels = (answer.json().get("labels") or {}) if answer.status_code == 200 else {}
        if labels.get(label) != BOUND:
            raise BindingMissing(
                f"GCS bucket {bucket!r} is not bound to this org: label it {label}={BOUND} (and let "
                f"{target} read the bucket's metadata, storage.buckets.get); until then this service "
                "vends no credentials for it"
            )

    async def credentials(
        self, *, target: str, bucket: str, prefix: str, write: bool, label: str
    ) -> GSCredentials:
        """A token of ``target`` narrowed to ``bucket/prefix``, once the bucket carries ``label``."""
        what = f"GCS delegation to {target}"
        own = await self._own_token()
        impersonated = await self.http.post(
            IAM_CREDENTIALS.format(account=quote(target, safe="@.")),
            headers={"Authorization": f"Bearer {own}"},
            json={"scope": ["https://www.googleapis.com/auth/devstorage.read_write"], "lifetime": "3600s"},
        )
        token = _checked(impersonated, what).json()["accessToken"]
        await self._check_label(token, bucket, label, target)
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

    async def _check_metadata(self, bearer: str, account: str, container: str, name: str) -> None:
        """The container must carry the metadata ``name: true``, read with the tenant's token (binding.py)."""
        answer = await self.http.get(
            f"https://{account}.blob.core.windows.net/{quote(container, safe='')}",
            params={"restype": "container", "comp": "metadata"},
            headers={"Authorization": f"Bearer {bearer}", "x-ms-version": AZURE_API_VERSION},
        )
        if answer.status_code >= 500:
            raise StorageUnavailable(f"Azure container {container!r}: the provider is unavailable; try again")
        found = answer.headers.get(f"x-ms-meta-{name}") if answer.status_code == 200 else None
        if found != BOUND:
            raise BindingMissing(
                f"Azure container {container!r} of storage account {account!r} is not bound to this org: "
                f"set its metadata {name}={BOUND} (readable by the service's principal); until then this "
                "service vends no credentials for it"
            )

    async def credentials(
        self, *, tenant_id: str, account: str, container: str, write: bool, metadata: str
    ) -> AzureCredentials:
        """A user delegation SAS for ``container``, once the container carries ``metadata``."""
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
        await self._check_metadata(bearer, account, container, metadata)
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
