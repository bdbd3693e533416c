"""Wire models: the JSON bodies the client and the service exchange.

One definition shared by both sides. Field names, enum values and required keys follow the hosted Arraylake
dialect so that its published client can talk to this service. Secrets are :class:`pydantic.SecretStr`: they
are masked in reprs and logs and written in clear only when a model is serialized to JSON for the wire.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    SecretStr,
    field_validator,
    model_validator,
)

from arraylake.names import (
    validate_bucket_name,
    validate_nickname,
    validate_org_name,
    validate_prefix,
    validate_repo_name,
)


def _as_utc(value: datetime) -> datetime:
    # Naive datetimes (SQLite hands those back) are UTC by construction in this project.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""A datetime that is always timezone-aware UTC on both sides of the wire."""

WireSecret = Annotated[
    SecretStr, PlainSerializer(lambda secret: secret.get_secret_value(), return_type=str, when_used="json")
]
"""A secret that is masked in reprs but travels in clear inside JSON bodies."""


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class WireModel(BaseModel):
    """Base of the wire models: tolerant of unknown keys, populated by field name or alias."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")


MAX_JSON_DEPTH = 32
"""How deeply a request body, or a JSON query parameter, may nest objects and lists."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text must not contain NUL characters (\\u0000)"
    # json.loads joins surrogate pairs into one character, so any surrogate left is a lone one.
    if not text.isascii() and _SURROGATE.search(text):
        return "text must not contain lone surrogates (\\ud800-\\udfff): they are not Unicode characters"
    return None


def check_text(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Return ``value`` (decoded JSON) if every string in it, keys included, can be stored and sent back:
    no NUL character, no lone surrogate; and if it nests at most ``max_depth`` levels. Else ``ValueError``
    naming where.

    Iterative, so that no input can exhaust the stack.
    """
    pending: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while pending:
        item, path = pending.pop()
        where = ".".join(path) or "body"
        if isinstance(item, str):
            problem = _text_problem(item)
            if problem:
                raise ValueError(f"{where}: {problem}")
        elif isinstance(item, dict | list | tuple):
            if len(path) >= max_depth:
                raise ValueError(f"{where}: nested more than {max_depth} levels deep")
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and (problem := _text_problem(key)):
                        raise ValueError(f"{where}: a key: {problem}")
                    pending.append((child, (*path, str(key))))
            else:
                pending.extend((child, (*path, str(index))) for index, child in enumerate(item))
    return value


class RequestBody(WireModel):
    """Base of the bodies clients send: :func:`check_text` over the whole body, nested parts included."""

    @model_validator(mode="before")
    @classmethod
    def _storable_text(cls, data: Any) -> Any:
        return check_text(data)


# --------------------------------------------------------------------------------------------------- enums


class RepoKind(StrEnum):
    V1 = "v1"
    Icechunk = "icechunk"


class RepoOperationMode(StrEnum):
    ONLINE = "online"
    MAINTENANCE = "maintenance"
    OFFLINE = "offline"


class RepoVisibility(StrEnum):
    PRIVATE = "PRIVATE"
    AUTHENTICATED_PUBLIC = "AUTHENTICATED_PUBLIC"


class Platform(StrEnum):
    S3 = "s3"
    S3_COMPATIBLE = "s3-compatible"
    MINIO = "minio"
    GS = "gs"
    AZURE = "azure"
    LOCAL = "local"
    """A directory on the service's machine (the embedded default); not known to the hosted client."""


S3_LIKE_PLATFORMS = frozenset({Platform.S3, Platform.S3_COMPATIBLE, Platform.MINIO})


class AuthMethod(StrEnum):
    ANONYMOUS = "anonymous"
    HMAC = "hmac"
    CUSTOMER_MANAGED_ROLE = "customer_managed_role"
    AWS_CUSTOMER_MANAGED_ROLE = "aws_customer_managed_role"
    GCP_CUSTOMER_MANAGED_ROLE = "gcp_customer_managed_role"
    R2_CUSTOMER_MANAGED_ROLE = "r2_customer_managed_role"
    AZURE_CREDENTIAL_DELEGATION = "azure_credential_delegation"
    BUCKET_POLICY = "bucket_policy"
    STS_ASSUME_ROLE = "sts_assume_role"
    """Short-lived credentials from STS ``AssumeRole`` at any S3-compatible store (an extension)."""


class OrgActions(StrEnum):
    CAN_MANAGE_USERS = "CAN_MANAGE_USERS"
    CAN_WRITE_REPOS = "CAN_WRITE_REPOS"
    CAN_READ_REPOS = "CAN_READ_REPOS"
    CAN_READ_REPOS_WITH_FLUX = "CAN_READ_REPOS_WITH_FLUX"


class RepoActions(StrEnum):
    CAN_READ = "CAN_READ"
    CAN_WRITE = "CAN_WRITE"
    CAN_MANAGE_USERS = "CAN_MANAGE_USERS"
    CAN_READ_WITH_FLUX = "CAN_READ_WITH_FLUX"
    CAN_SYNC = "CAN_SYNC"


class CreateMode(StrEnum):
    REGISTER = "register"
    """Record the repo at once; the caller creates the Icechunk repository afterwards (hosted dialect)."""
    CREATE = "create"
    """Reserve the name, hidden, until the caller activates the repo once its Icechunk repository exists."""
    IMPORT = "import"


# --------------------------------------------------------------------------------------------- auth configs


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


# -------------------------------------------------------------------------------------------------- buckets


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


# ---------------------------------------------------------------------------------------------------- repos

MetadataScalar = str | int | float | bool | None
RepoMetadata = dict[str, MetadataScalar | list[MetadataScalar]]
MAX_METADATA_BYTES = 4096
MAX_DESCRIPTION_LENGTH = 255


def validate_metadata(value: RepoMetadata | None) -> RepoMetadata | None:
    """Metadata is a flat JSON object of scalars or lists of scalars, at most 4 KiB, of storable text."""
    if value is None:
        return None
    check_text(value, max_depth=2)
    for key, item in value.items():
        if not key or len(key) > 128:
            raise ValueError("metadata keys must have 1 to 128 characters")
        items = item if isinstance(item, list) else [item]
        if any(isinstance(x, float) and not math.isfinite(x) for x in items):
            raise ValueError(f"metadata[{key!r}]: NaN and infinity are not JSON")
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is larger than {MAX_METADATA_BYTES} bytes of JSON")
    return value


class RepoDeletionProgress(WireModel):
    """How far the removal of a deleted repo's data has come (``in_progress`` false once it is done)."""

    repo_id: str
    in_progress: bool
    removed_objects: int = 0


class RepoOperationStatusResponse(WireModel):
    mode: RepoOperationMode = RepoOperationMode.ONLINE
    message: str | None = None
    initiated_by: dict[str, Any] = Field(default_factory=dict)
    is_user_modifiable: bool = True
    estimated_end_time: UtcDatetime | None = None


class RepoOperationStatusUpdate(RequestBody):
    """Body of ``PUT /orgs/{org}/{repo}/status``."""

    mode: RepoOperationMode
    message: str | None = Field(default=None, max_length=1000)


class Repo(WireModel):
    """A repo in the catalog (the documented ``RepoModel``)."""

    id: str = Field(alias="_id", pattern=r"^([0-9a-f]{2})+$")
    org: str
    name: str
    created: UtcDatetime = Field(default_factory=utcnow)
    updated: UtcDatetime = Field(default_factory=utcnow)
    description: str | None = None
    metadata: RepoMetadata | None = None
    created_by: UUID | None = None
    visibility: RepoVisibility = RepoVisibility.PRIVATE
    bucket: BucketResponse | None = None
    status: RepoOperationStatusResponse = Field(default_factory=RepoOperationStatusResponse)
    kind: RepoKind = RepoKind.Icechunk
    prefix: str
    deleted_at: UtcDatetime | None = None
    deleted_by: UUID | None = None
    # Extensions of the hosted protocol, set on soft-deleted repos only (listed with include_ghosts).
    deleted_by_email: str | None = None
    restorable_until: UtcDatetime | None = None  # then the repo and its data are removed for good
    retain_data: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.org}/{self.name}"


RepoModel = Repo


class _NewRepoBody(RequestBody):
    """The fields, and their rules, of every body that adds a repo to the catalog."""

    name: str
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    bucket_nickname: str | None = None
    kind: RepoKind = RepoKind.Icechunk
    metadata: RepoMetadata | None = None
    prefix: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_repo_name(value, new=True)

    @field_validator("bucket_nickname")
    @classmethod
    def _nickname(cls, value: str | None) -> str | None:
        return None if value is None else validate_nickname(value)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is None:
            return None
        checked = validate_prefix(value, what="repo prefix")
        if not checked:
            raise ValueError("repo prefix must not be empty; leave it out to get a generated one")
        return checked

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: RepoMetadata | None) -> RepoMetadata | None:
        return validate_metadata(value)


class RepoCreateBody(_NewRepoBody):
    """Body of ``POST /orgs/{org}/repos``."""

    create_mode: CreateMode = CreateMode.REGISTER
    spec_version: int | None = None


class RepoImportBody(_NewRepoBody):
    """Body of ``POST /orgs/{org}/repos/import``: register an Icechunk repository that already exists.

    Validated by the same rules as a new repo's body, so that every bad field is a 422 before any work.
    """

    prefix: str  # type: ignore[assignment]  # required here: the prefix of the existing repository

    def as_create_body(self) -> RepoCreateBody:
        return RepoCreateBody(
            name=self.name,
            description=self.description,
            bucket_nickname=self.bucket_nickname,
            kind=self.kind,
            metadata=self.metadata,
            prefix=self.prefix,
            create_mode=CreateMode.IMPORT,
        )


class RepoModifyRequest(RequestBody):
    """Body of ``PATCH /orgs/{org}/{repo}``: only the given keys change."""

    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION_LENGTH)
    add_metadata: RepoMetadata | None = None
    remove_metadata: list[str] | None = None
    update_metadata: RepoMetadata | None = None


class PaginatedRepos(WireModel):
    items: list[Repo]
    total: int
    page: int
    size: int
    pages: int


# -------------------------------------------------------------------------------------------- credentials


class S3Credentials(WireModel):
    aws_access_key_id: str
    aws_secret_access_key: WireSecret
    aws_session_token: WireSecret | None = None
    expiration: UtcDatetime | None = None


class GSCredentials(WireModel):
    access_token: WireSecret
    principal: str
    expiration: UtcDatetime | None = None


class AzureCredentials(WireModel):
    sas_token: WireSecret
    storage_account: str
    expiration: UtcDatetime | None = None


AnyCredentials = S3Credentials | GSCredentials | AzureCredentials


class VirtualChunkCredentials(WireModel):
    credentials: AnyCredentials | None = None
    org: str
    bucket_nickname: str
    platform: Platform
    runtime_vcc_name: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    allow_http: bool = False
    force_path_style: bool = False


class VirtualChunkPolicyRequest(RequestBody):
    """Let the org's repos read virtual chunks from a bucket config (or a sub-prefix of it)."""

    use_case: Literal["explicit"] = "explicit"
    bucket_id: UUID
    subprefix: str = ""
    public: bool = False
    """Public data: readers get no credentials for it (anonymous reads)."""

    @field_validator("subprefix")
    @classmethod
    def _subprefix(cls, value: str) -> str:
        return validate_prefix(value.strip("/"), what="subprefix")


class VirtualChunkPolicy(VirtualChunkPolicyRequest):
    url_prefix: str
    created: UtcDatetime
    created_by: str | None = None


class PaginatedVirtualChunkPolicies(WireModel):
    items: list[VirtualChunkPolicy]
    total: int
    page: int
    size: int
    pages: int


class Author(WireModel):
    name: str | None = None
    email: EmailStr


class OpenRepoResponse(WireModel):
    """Everything a client needs to open a repo, in one response (``GET /repos/{org}/{repo}/open``)."""

    repo_bucket: BucketResponse
    repo_prefix: str
    repo_credentials: AnyCredentials | None = None
    virtual_chunk_credentials: dict[str, VirtualChunkCredentials] = Field(default_factory=dict)
    author: Author
    principal_id: str
    status: RepoOperationStatusResponse


# ------------------------------------------------------------------------------------------ principals/orgs


class UserInfo(WireModel):
    id: UUID
    first_name: str | None = None
    family_name: str | None = None
    email: EmailStr


class ApiTokenInfo(WireModel):
    id: UUID
    client_id: str
    email: EmailStr
    expiration: int


class OrgResponse(WireModel):
    id: str
    name: str
    display_name: str = ""
    description: str | None = None
    avatar_url: str | None = None
    contact_email: str | None = None
    created: UtcDatetime
    created_by: str | None = None
    status: str = "active"
    permissions: list[Any] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_org_name(value)


class PermissionCheckResponse(WireModel):
    has_permission: bool


# ------------------------------------------------------------------------------------------ access management


class OrgRole(StrEnum):
    """A principal's role in an org."""

    ADMIN = "admin"
    """Everything in the org: repos, bucket configs, members, API clients."""
    REPO_WRITER = "repo_writer"
    """Create repos; read and write every repo."""
    REPO_READER = "repo_reader"
    """Read every repo."""
    MEMBER = "member"
    """Only the repos granted to them."""


class PrincipalKind(StrEnum):
    USER = "user"
    API_CLIENT = "api_client"


class OrgCreateRequest(RequestBody):
    name: str
    display_name: str | None = Field(default=None, max_length=256)
    description: str | None = Field(default=None, max_length=1000)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate_org_name(value)


class OrgMember(WireModel):
    principal_id: UUID
    kind: PrincipalKind
    email: str
    name: str | None = None
    role: OrgRole


class MemberAddRequest(RequestBody):
    """Add a user (by email or id) or an API client of the org (by id) as a member."""

    principal: str = Field(min_length=1, max_length=320, description="Email of a user, or a principal id")
    role: OrgRole = OrgRole.MEMBER


class MemberRoleUpdate(RequestBody):
    role: OrgRole


class RepoGrant(WireModel):
    principal_id: UUID
    kind: PrincipalKind
    email: str
    actions: list[RepoActions]


class RepoGrantRequest(RequestBody):
    principal: str = Field(min_length=1, max_length=320, description="Email of a user, or a principal id")
    actions: list[RepoActions] = Field(min_length=1)


class ApiTokenSummary(WireModel):
    id: UUID
    hint: str
    name: str = ""
    created: UtcDatetime
    expires_at: UtcDatetime | None = None
    last_used_at: UtcDatetime | None = None
    revoked_at: UtcDatetime | None = None


class ApiClientCreateRequest(RequestBody):
    name: str = Field(min_length=1, max_length=128)
    role: OrgRole = OrgRole.REPO_READER
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class ApiClientInfo(WireModel):
    id: UUID = Field(alias="_id")
    name: str
    email: str
    role: OrgRole | None = None
    created: UtcDatetime
    disabled_at: UtcDatetime | None = None
    tokens: list[ApiTokenSummary] = Field(default_factory=list)


class ApiTokenCreateRequest(RequestBody):
    name: str = Field(default="", max_length=128)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


class ApiTokenCreated(WireModel):
    """A new API token: the only time it is shown in clear."""

    id: UUID
    client_id: UUID
    token: WireSecret
    expires_at: UtcDatetime | None = None


class ApiClientCreated(WireModel):
    client: ApiClientInfo
    token: ApiTokenCreated


class ApiClientResponse(WireModel):
    """The API client a token belongs to (``/orgs/{org}/api-clients/authenticate``), in both the 0.15 and
    1.7 shapes of the hosted dialect."""

    id: UUID = Field(alias="_id")
    client_id: UUID
    email: str
    created: UtcDatetime
    expiration: UtcDatetime | None = None
    last_used: UtcDatetime | None = None


class OAuthConfig(WireModel):
    """``GET /auth/config?target=client``: where to log in (hosted dialect plus full endpoint URLs)."""

    domain: str
    client_id: str
    issuer: str | None = None
    device_authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    revocation_endpoint: str | None = None


class DeviceAuthorizationResponse(WireModel):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class OAuthTokens(WireModel):
    """Token endpoint answer, and the content of the client's token file."""

    access_token: str
    id_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (a token type, not a token)


class ServiceInfo(WireModel):
    """Body of ``GET /``: what the service is."""

    arraylake_api_version: str
    service: str = "arraylake-open"
    version: str


class ErrorResponse(WireModel):
    detail: Any
    request_id: str | None = None
