"""The enumerations of the hosted dialect (and this service's extensions): repo kinds and modes, storage
platforms, bucket auth methods, org and repo actions, repo creation modes.
"""

from __future__ import annotations

from enum import StrEnum


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
