"""How the service reaches a bucket: the ``auth_config`` of a bucket config, one model per auth method."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from arraylake.types.common import WireModel, WireSecret


class AnonymousAuth(WireModel):
    method: Literal["anonymous"] = "anonymous"
    storage_account: str | None = None


class HmacAuth(WireModel):
    """Static keys of the whole bucket, handed to clients as they are: they cannot be narrowed to one repo
    or to reading. ``writers_only`` keeps them from principals who may only read (an extension)."""

    method: Literal["hmac"] = "hmac"
    access_key_id: str = Field(min_length=1, max_length=256)
    secret_access_key: WireSecret = Field(min_length=1, max_length=1024)
    writers_only: bool = Field(
        default=False,
        description="Hand the keys only to principals who may write the repo (readers are refused); "
        "by default anyone who may read a repo in the bucket receives these write-capable keys",
    )


class AWSCustomerManagedRoleAuth(WireModel):
    """The service assumes ``arn:aws:iam::<external_customer_id>:role/<external_role_name>`` with its own
    AWS identity, always sending the org's external id (``shared_secret``), which the service generates:
    a request may omit it or repeat it, never choose it."""

    method: Literal["aws_customer_managed_role", "customer_managed_role"] = "aws_customer_managed_role"
    external_customer_id: str = Field(pattern=r"^\d{12}$")
    external_role_name: str = Field(pattern=r"^[A-Za-z0-9_+=,.@/-]+$", max_length=512)
    shared_secret: WireSecret | None = None


class StsAssumeRoleAuth(WireModel):
    """The service assumes ``role_arn`` with its own keys at the store (``access_key_id``), narrowing each
    session to one repo's prefix and one kind of access."""

    method: Literal["sts_assume_role"] = "sts_assume_role"
    role_arn: str = Field(min_length=1, max_length=2048)
    access_key_id: str = Field(min_length=1, max_length=256)
    secret_access_key: WireSecret = Field(min_length=1, max_length=1024)
    external_id: WireSecret | None = Field(default=None, min_length=2, max_length=1224)
    sts_endpoint_url: str | None = Field(default=None, description="Default: the bucket's endpoint_url")

    @field_validator("sts_endpoint_url")
    @classmethod
    def _sts_endpoint_url(cls, value: str | None) -> str | None:
        return None if value is None else validate_endpoint_url(value, what="sts_endpoint_url")

    duration_seconds: int | None = Field(
        default=3600, ge=900, le=43200, description="Session lifetime; None leaves it to the store"
    )


class GCPCustomerManagedRoleAuth(WireModel):
    """The service impersonates ``target_service_account`` once the bucket proves it belongs to the org: it
    must carry the label ``org_binding_label`` (set by the service) with the value ``true``."""

    method: Literal["gcp_customer_managed_role"] = "gcp_customer_managed_role"
    target_service_account: str = Field(pattern=r"^[^\s/@]+@[^\s/@]+$", max_length=256)
    org_binding_label: str | None = Field(
        default=None, description="Set by the service: the label the bucket must carry (value: true)"
    )


class R2CustomerManagedRoleAuth(WireModel):
    method: Literal["r2_customer_managed_role"] = "r2_customer_managed_role"
    external_account_id: str
    parent_access_key_id: str
    account_api_token: WireSecret | None = None
    parent_secret_access_key: WireSecret | None = None
    duration_seconds: int = 3600


class AzureCredentialDelegationAuth(WireModel):
    """The service signs in to ``tenant_id`` with its own principal and signs SAS tokens once the container
    proves it belongs to the org: it must carry the metadata ``org_binding_metadata`` (set by the service)
    with the value ``true``."""

    method: Literal["azure_credential_delegation"] = "azure_credential_delegation"
    tenant_id: str = Field(pattern=r"^[A-Za-z0-9.-]{1,256}$")
    storage_account: str = Field(pattern=r"^[a-z0-9]{3,24}$")
    org_binding_metadata: str | None = Field(
        default=None, description="Set by the service: the container metadata it must carry (value: true)"
    )


class BucketPolicyAuth(WireModel):
    method: Literal["bucket_policy"] = "bucket_policy"


AuthConfig = Annotated[
    AnonymousAuth
    | HmacAuth
    | StsAssumeRoleAuth
    | AWSCustomerManagedRoleAuth
    | GCPCustomerManagedRoleAuth
    | R2CustomerManagedRoleAuth
    | AzureCredentialDelegationAuth
    | BucketPolicyAuth,
    Field(discriminator="method"),
]


def validate_endpoint_url(url: str, *, what: str = "endpoint_url") -> str:
    """An http(s) URL with a host, no credentials, no query or fragment, and a valid port."""
    problem = f"{what} must be an http(s) URL with a host (like https://s3.example.com), got {url!r}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a port out of range or not a number)
    except ValueError as exc:
        raise ValueError(problem) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2048:
        raise ValueError(problem)
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError(f"{what} may not carry credentials, a query or a fragment, got {url!r}")
    return url
