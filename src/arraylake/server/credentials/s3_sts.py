"""Short-lived S3 credentials from STS ``AssumeRole``, narrowed by an inline session policy.

The session policy allows exactly one key prefix of one bucket: ``GetObject`` and listing for readers, plus
``PutObject``/``DeleteObject`` for writers. Whatever the role itself may do, the session can do no more.
Works with AWS and with S3-compatible stores that implement STS (SeaweedFS, MinIO, Ceph).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from arraylake.server.errors import StorageUnavailable, UpstreamRefused
from arraylake.types import S3Credentials

READ_ACTIONS = ["s3:GetObject"]
WRITE_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
SESSION_NAME_LIMIT = 64
# What a caller may learn of an STS refusal: a fixed vocabulary, never the store's own words.
_STS_REFUSALS = {
    "AccessDenied": "access denied (check the role's trust policy and external id)",
    "InvalidClientTokenId": "the service's access key is unknown",
    "SignatureDoesNotMatch": "the service's secret key does not match",
    "ExpiredToken": "the service's credentials have expired",
    "MalformedPolicyDocument": "the session policy was rejected",
    "PackedPolicyTooLarge": "the session policy is too large",
    "RegionDisabledException": "STS is disabled in this region",
    "ValidationError": "the request was rejected as invalid",
}


@dataclass(frozen=True)
class AssumeRoleRequest:
    """Everything one ``AssumeRole`` call needs; ``access_key_id=None`` uses the service's own AWS
    credentials (environment, instance profile)."""

    bucket_nickname: str
    role_arn: str
    session_name: str
    policy: dict[str, Any]
    endpoint_url: str | None
    region: str | None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    external_id: str | None = None
    duration_seconds: int | None = None

    def call_arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "RoleArn": self.role_arn,
            "RoleSessionName": self.session_name[:SESSION_NAME_LIMIT],
            "Policy": json.dumps(self.policy, separators=(",", ":")),
        }
        if self.external_id:
            arguments["ExternalId"] = self.external_id
        if self.duration_seconds:
            arguments["DurationSeconds"] = self.duration_seconds
        return arguments


def session_policy(bucket: str, prefix: str, *, write: bool, partition: str = "aws") -> dict[str, Any]:
    """An IAM policy limited to ``bucket/prefix/*``: read-only, or read-write."""
    root = prefix.rstrip("/")
    objects = f"arn:{partition}:s3:::{bucket}/{root}/*" if root else f"arn:{partition}:s3:::{bucket}/*"
    listing: dict[str, Any] = {
        "Effect": "Allow",
        "Action": ["s3:ListBucket"],
        "Resource": [f"arn:{partition}:s3:::{bucket}"],
    }
    if root:
        # "root/" and below only: a bare "root" would also list the key names of a sibling "root-other/".
        listing["Condition"] = {"StringLike": {"s3:prefix": [f"{root}/", f"{root}/*"]}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": WRITE_ACTIONS if write else READ_ACTIONS, "Resource": [objects]},
            listing,
        ],
    }


def _client(request: AssumeRoleRequest) -> Any:
    kwargs: dict[str, Any] = {
        "region_name": request.region or "us-east-1",
        "config": Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2}),
    }
    if request.endpoint_url:
        kwargs["endpoint_url"] = request.endpoint_url
    if request.access_key_id:
        kwargs["aws_access_key_id"] = request.access_key_id
        kwargs["aws_secret_access_key"] = request.secret_access_key
    return boto3.session.Session().client("sts", **kwargs)


def _assume(request: AssumeRoleRequest) -> S3Credentials:
    name = request.bucket_nickname
    try:
        answer = _client(request).assume_role(**request.call_arguments())
    except EndpointConnectionError as exc:
        # boto has already retried; a port nobody listens on stays that way.
        where = request.endpoint_url or "of AWS"
        raise UpstreamRefused(
            f"nothing answers at the STS endpoint {where} of bucket config {name!r}"
        ) from exc
    except TimeoutError as exc:
        raise StorageUnavailable(
            f"the STS endpoint of bucket config {name!r} did not answer in time"
        ) from exc
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        reason = _STS_REFUSALS.get(code, "refused")
        raise UpstreamRefused(
            f"STS refused to issue credentials for bucket config {name!r}: {reason}"
        ) from exc
    except BotoCoreError as exc:
        raise StorageUnavailable(f"STS did not answer usably for bucket config {name!r}") from exc
    creds = answer["Credentials"]
    return S3Credentials(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        # botocore hands back local-zone datetimes; the wire (and icechunk) want UTC.
        expiration=creds["Expiration"].astimezone(UTC),
    )


async def assume_role(request: AssumeRoleRequest) -> S3Credentials:
    """Call STS (in a thread: boto3 is synchronous) and return the session's credentials."""
    return await asyncio.to_thread(_assume, request)
