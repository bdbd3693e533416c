"""Wire models: the JSON bodies the client and the service exchange.

One definition shared by both sides. Field names, enum values and required keys follow the hosted Arraylake
dialect so that its published client can talk to this service. Secrets are :class:`pydantic.SecretStr`: they
are masked in reprs and logs and written in clear only when a model is serialized to JSON for the wire.

One module per part of the protocol; import from here (``from arraylake.types import Repo``), which keeps
every name where it has always been:

- ``common``: the base model, UTC datetimes, wire secrets, the text rules of request bodies
- ``enums``: platforms, auth methods, repo kinds and modes, org and repo actions
- ``bucket_auth``: how the service reaches a bucket (one model per auth method)
- ``buckets``: bucket configs and their checks
- ``storage_credentials``: credentials for object storage as the service hands them out
- ``virtual_chunks``: virtual chunk container credentials and policies
- ``repos``: repo records, metadata, the bodies that change them, and the ``/open`` answer
- ``identity``: users, API clients, orgs as a principal sees them
- ``orgs``: roles, members, repo grants, API clients and their tokens
- ``oauth``: logging in as a user
"""

from __future__ import annotations

from arraylake.types.bucket_auth import (
    AnonymousAuth,
    AuthConfig,
    AWSCustomerManagedRoleAuth,
    AzureCredentialDelegationAuth,
    BucketPolicyAuth,
    GCPCustomerManagedRoleAuth,
    HmacAuth,
    R2CustomerManagedRoleAuth,
    StsAssumeRoleAuth,
    validate_endpoint_url,
)
from arraylake.types.buckets import (
    EXTRA_CONFIG_KEYS,
    LOCAL_PATH_KEY,
    BucketCheckReport,
    BucketCheckStep,
    BucketModifyRequest,
    BucketResponse,
    NewBucket,
    StorageBinding,
    check_platform_rules,
    validate_extra_config,
)
from arraylake.types.common import (
    MAX_JSON_DEPTH,
    ErrorResponse,
    RequestBody,
    ServiceInfo,
    UtcDatetime,
    WireModel,
    WireSecret,
    check_text,
    utcnow,
)
from arraylake.types.enums import (
    S3_LIKE_PLATFORMS,
    AuthMethod,
    CreateMode,
    OrgActions,
    Platform,
    RepoActions,
    RepoKind,
    RepoOperationMode,
    RepoVisibility,
)
from arraylake.types.identity import (
    ApiClientResponse,
    ApiTokenInfo,
    OrgResponse,
    PermissionCheckResponse,
    UserInfo,
)
from arraylake.types.oauth import DeviceAuthorizationResponse, OAuthConfig, OAuthTokens
from arraylake.types.orgs import (
    ApiClientCreated,
    ApiClientCreateRequest,
    ApiClientInfo,
    ApiTokenCreated,
    ApiTokenCreateRequest,
    ApiTokenSummary,
    MemberAddRequest,
    MemberRoleUpdate,
    OrgCreateRequest,
    OrgMember,
    OrgRole,
    PrincipalKind,
    RepoGrant,
    RepoGrantRequest,
)
from arraylake.types.repos import (
    MAX_DESCRIPTION_LENGTH,
    MAX_METADATA_BYTES,
    Author,
    MetadataScalar,
    OpenRepoResponse,
    PaginatedRepos,
    Repo,
    RepoCreateBody,
    RepoDeletionProgress,
    RepoImportBody,
    RepoMetadata,
    RepoModel,
    RepoModifyRequest,
    RepoOperationStatusResponse,
    RepoOperationStatusUpdate,
    validate_metadata,
)
from arraylake.types.storage_credentials import AnyCredentials, AzureCredentials, GSCredentials, S3Credentials
from arraylake.types.virtual_chunks import (
    PaginatedVirtualChunkPolicies,
    VirtualChunkCredentials,
    VirtualChunkPolicy,
    VirtualChunkPolicyRequest,
)

__all__ = [
    "EXTRA_CONFIG_KEYS",
    "LOCAL_PATH_KEY",
    "MAX_DESCRIPTION_LENGTH",
    "MAX_JSON_DEPTH",
    "MAX_METADATA_BYTES",
    "S3_LIKE_PLATFORMS",
    "AWSCustomerManagedRoleAuth",
    "AnonymousAuth",
    "AnyCredentials",
    "ApiClientCreateRequest",
    "ApiClientCreated",
    "ApiClientInfo",
    "ApiClientResponse",
    "ApiTokenCreateRequest",
    "ApiTokenCreated",
    "ApiTokenInfo",
    "ApiTokenSummary",
    "AuthConfig",
    "AuthMethod",
    "Author",
    "AzureCredentialDelegationAuth",
    "AzureCredentials",
    "BucketCheckReport",
    "BucketCheckStep",
    "BucketModifyRequest",
    "BucketPolicyAuth",
    "BucketResponse",
    "CreateMode",
    "DeviceAuthorizationResponse",
    "ErrorResponse",
    "GCPCustomerManagedRoleAuth",
    "GSCredentials",
    "HmacAuth",
    "MemberAddRequest",
    "MemberRoleUpdate",
    "MetadataScalar",
    "NewBucket",
    "OAuthConfig",
    "OAuthTokens",
    "OpenRepoResponse",
    "OrgActions",
    "OrgCreateRequest",
    "OrgMember",
    "OrgResponse",
    "OrgRole",
    "PaginatedRepos",
    "PaginatedVirtualChunkPolicies",
    "PermissionCheckResponse",
    "Platform",
    "PrincipalKind",
    "R2CustomerManagedRoleAuth",
    "Repo",
    "RepoActions",
    "RepoCreateBody",
    "RepoDeletionProgress",
    "RepoGrant",
    "RepoGrantRequest",
    "RepoImportBody",
    "RepoKind",
    "RepoMetadata",
    "RepoModel",
    "RepoModifyRequest",
    "RepoOperationMode",
    "RepoOperationStatusResponse",
    "RepoOperationStatusUpdate",
    "RepoVisibility",
    "RequestBody",
    "S3Credentials",
    "ServiceInfo",
    "StorageBinding",
    "StsAssumeRoleAuth",
    "UserInfo",
    "UtcDatetime",
    "VirtualChunkCredentials",
    "VirtualChunkPolicy",
    "VirtualChunkPolicyRequest",
    "WireModel",
    "WireSecret",
    "check_platform_rules",
    "check_text",
    "utcnow",
    "validate_endpoint_url",
    "validate_extra_config",
    "validate_metadata",
]
