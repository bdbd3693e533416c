"""Bucket configs: where an org's repos keep their data, and the reports about them."""

from __future__ import annotations

from typing import Any, Literal, Self
from uuid import UUID

from pydantic import Field, field_validator, model_validator

from arraylake.names import validate_bucket_name, validate_nickname, validate_prefix
from arraylake.types.bucket_auth import AnonymousAuth, AuthConfig, validate_endpoint_url
from arraylake.types.common import RequestBody, UtcDatetime, WireModel, utcnow
from arraylake.types.enums import AuthMethod, Platform

# Keys a bucket's extra_config may carry; `local_path` is filled in by the service for local buckets.
EXTRA_CONFIG_KEYS: dict[str, type] = {
    "endpoint_url": str,
    "region_name": str,
    "use_ssl": bool,
    "force_path_style": bool,
    "unsafe_use_conditional_update": bool,
    "unsafe_use_conditional_create": bool,
}
LOCAL_PATH_KEY = "local_path"


def validate_extra_config(value: dict[str, str | bool]) -> dict[str, str | bool]:
    """Only known keys, each of its type; an endpoint_url must be an http(s) URL."""
    for key, item in value.items():
        expected = EXTRA_CONFIG_KEYS.get(key)
        if expected is None:
            known = ", ".join(sorted(EXTRA_CONFIG_KEYS))
            raise ValueError(f"unknown extra_config key {key!r}; known keys: {known}")
        if not isinstance(item, expected):
            raise ValueError(f"extra_config[{key!r}] must be a {expected.__name__}")
    if "endpoint_url" in value:
        validate_endpoint_url(str(value["endpoint_url"]))
    return value


class NewBucket(RequestBody):
    """Body of ``POST /orgs/{org}/buckets``: a bucket config as the user describes it."""

    nickname: str
    platform: Platform
    name: str
    prefix: str = ""
    extra_config: dict[str, str | bool] = Field(default_factory=dict)
    auth_config: AuthConfig = Field(default_factory=AnonymousAuth)
    em_managed: bool = False

    @field_validator("nickname")
    @classmethod
    def _nickname(cls, value: str) -> str:
        return validate_nickname(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_bucket_name(value)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return validate_prefix(value.strip(), what="bucket prefix")

    @field_validator("extra_config")
    @classmethod
    def _extra_config(cls, value: dict[str, str | bool]) -> dict[str, str | bool]:
        return validate_extra_config(value)

    @model_validator(mode="after")
    def _platform_rules(self) -> Self:
        check_platform_rules(self.platform, self.extra_config, self.auth_config)
        if self.platform == Platform.S3 and "endpoint_url" in self.extra_config:
            self.platform = Platform.S3_COMPATIBLE
        return self


def check_platform_rules(platform: Platform, extra_config: dict[str, Any], auth: Any) -> None:
    """Raise ``ValueError`` when a bucket's platform, extra config and auth method don't fit together."""
    method = auth.method
    if platform == Platform.S3 and "endpoint_url" not in extra_config and not extra_config.get("region_name"):
        raise ValueError("s3 buckets need extra_config region_name (e.g. 'us-east-1')")
    if platform in (Platform.S3_COMPATIBLE, Platform.MINIO) and not extra_config.get("endpoint_url"):
        raise ValueError(f"{platform.value} buckets need extra_config endpoint_url")
    if platform == Platform.LOCAL:
        if method != AuthMethod.ANONYMOUS:
            raise ValueError("local buckets are directories of the service: their auth method is anonymous")
        if extra_config:
            raise ValueError("local buckets take no extra_config")
    if platform == Platform.GS and method == AuthMethod.HMAC:
        raise ValueError(
            "gs buckets don't take HMAC keys here; to use GCS HMAC keys, configure the bucket as "
            "s3-compatible with endpoint_url https://storage.googleapis.com"
        )
    if platform == Platform.AZURE and method == AuthMethod.ANONYMOUS and not auth.storage_account:
        raise ValueError("anonymous azure buckets need auth_config storage_account")
    role_platforms = {
        AuthMethod.AWS_CUSTOMER_MANAGED_ROLE: {Platform.S3, Platform.S3_COMPATIBLE, Platform.MINIO},
        AuthMethod.STS_ASSUME_ROLE: {Platform.S3, Platform.S3_COMPATIBLE, Platform.MINIO},
        AuthMethod.CUSTOMER_MANAGED_ROLE: {Platform.S3, Platform.S3_COMPATIBLE, Platform.MINIO},
        AuthMethod.GCP_CUSTOMER_MANAGED_ROLE: {Platform.GS},
        AuthMethod.R2_CUSTOMER_MANAGED_ROLE: {Platform.S3_COMPATIBLE},
        AuthMethod.AZURE_CREDENTIAL_DELEGATION: {Platform.AZURE},
    }
    allowed = role_platforms.get(AuthMethod(method))
    if allowed is not None and platform not in allowed:
        names = ", ".join(sorted(p.value for p in allowed))
        raise ValueError(f"auth method {method} only works with platform {names}")


class BucketModifyRequest(RequestBody):
    """Body of ``PATCH /orgs/{org}/buckets/{id}``: only the fields to change."""

    nickname: str | None = None
    platform: Platform | None = None
    name: str | None = None
    prefix: str | None = None
    extra_config: dict[str, str | bool] | None = None
    auth_config: AuthConfig | None = None

    @field_validator("nickname")
    @classmethod
    def _nickname(cls, value: str | None) -> str | None:
        return None if value is None else validate_nickname(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else validate_bucket_name(value)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        return None if value is None else validate_prefix(value.strip(), what="bucket prefix")

    @field_validator("extra_config")
    @classmethod
    def _extra_config(cls, value: dict[str, str | bool] | None) -> dict[str, str | bool] | None:
        return None if value is None else validate_extra_config(value)


class BucketResponse(WireModel):
    """A bucket config as the service returns it."""

    id: UUID
    nickname: str
    platform: Platform
    name: str
    prefix: str = ""
    extra_config: dict[str, str | bool] = Field(default_factory=dict)
    em_managed: bool = False
    created: UtcDatetime = Field(default_factory=utcnow)
    updated: UtcDatetime = Field(default_factory=utcnow)
    created_by: str | None = None
    is_default: bool
    auth_config: AuthConfig | None = None

    @property
    def auth_method(self) -> AuthMethod:
        return AuthMethod(self.auth_config.method) if self.auth_config else AuthMethod.ANONYMOUS


class BucketCheckStep(WireModel):
    """One capability tried by a bucket connectivity check, and why it failed or was skipped."""

    capability: str
    status: Literal["ok", "failed", "skipped"]
    cause: str | None = None


class BucketCheckReport(WireModel):
    """Answer of ``POST /orgs/{org}/buckets/{id}/check``: what the credentials that clients receive can do
    under the bucket config's prefix, tried on a scratch key that is removed afterwards."""

    nickname: str
    location: str
    scratch_key: str
    ok: bool
    cleaned_up: bool
    steps: list[BucketCheckStep]


class StorageBinding(WireModel):
    """What binds an org's delegated storage to it (generated by the service, never chosen by a customer).

    Put ``aws_external_id`` in an ``sts:ExternalId`` condition of the trust policy of every AWS role the org
    registers; label every GCS bucket with ``gcs_bucket_label`` and give every Azure container the metadata
    ``azure_container_metadata``, each with the value ``value``. Until then the service vends nothing there.
    """

    org: str
    aws_external_id: str
    gcs_bucket_label: str
    azure_container_metadata: str
    value: str = "true"
