"""Short-lived (or static) credentials for object storage, as the service hands them to clients."""

from __future__ import annotations

from arraylake.types.common import UtcDatetime, WireModel, WireSecret


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
