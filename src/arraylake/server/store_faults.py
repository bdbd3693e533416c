"""What went wrong when the service talked to an object store, in the service's own words.

obstore raises few exception classes (a refused listing is a ``GenericError``, like a dead endpoint), so the
HTTP status and the S3 error code are read from its message and mapped onto a fixed vocabulary: the store's
own words never reach a caller (README, "Security"). Deterministic faults (no such bucket, unknown key, wrong
secret, access denied, nothing listening) are told apart from transient ones (server errors, timeouts), so
that callers are not asked to retry what cannot pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from arraylake.types import AnyCredentials, BucketResponse, S3Credentials

_STATUS = re.compile(r"status code: (\d{3})")
_CODE = re.compile(r"<Code>([A-Za-z.]{1,64})</Code>|\(code: ([A-Za-z.]{1,64})\)")


@dataclass(frozen=True)
class StoreFault:
    """One classified failure: ``cause`` is safe to show; ``fatal`` faults hit every operation alike."""

    kind: str
    cause: str
    fatal: bool = False
    transient: bool = False
    status: int | None = None
    code: str | None = None


def where(bucket: BucketResponse) -> str:
    """The store's address as a user configured it: the endpoint, or AWS S3 and its region."""
    endpoint = bucket.extra_config.get("endpoint_url")
    if endpoint:
        return str(endpoint)
    return f"AWS S3 (region {bucket.extra_config.get('region_name') or 'us-east-1'})"


def key_hint(credentials: AnyCredentials | None) -> str:
    """Which access key was used, recognisable without being spelled out in full."""
    if not isinstance(credentials, S3Credentials):
        return "no access key (unsigned requests)"
    if credentials.aws_session_token is not None:
        return "the vended session credentials"
    key = credentials.aws_access_key_id
    shown = f"{key[:4]}…{key[-4:]}" if len(key) > 12 else f"{key[:3]}…"
    return f"access key {shown!r}"


def classify(bucket: BucketResponse, exc: BaseException, credentials: AnyCredentials | None) -> StoreFault:
    """Describe an obstore (or OS) failure of ``bucket``, signed with ``credentials``."""
    text = str(exc)
    found = _STATUS.search(text)
    status = int(found.group(1)) if found else None
    coded = _CODE.search(text)
    code = (coded.group(1) or coded.group(2)) if coded else None
    name = bucket.name
    if code == "NoSuchBucket":
        return StoreFault(
            "no_bucket", f"bucket {name!r} does not exist at {where(bucket)}", True, False, status, code
        )
    if code == "InvalidAccessKeyId":
        cause = f"the store refused {key_hint(credentials)}: it does not know it"
        return StoreFault("unknown_key", cause, True, False, status, code)
    if code == "SignatureDoesNotMatch":
        cause = f"the store refused the secret key of {key_hint(credentials)}: it does not match"
        return StoreFault("wrong_secret", cause, True, False, status, code)
    if code in ("ExpiredToken", "TokenRefreshRequired", "InvalidToken"):
        return StoreFault(
            "expired", "the store refused the credentials as expired", True, False, status, code
        )
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
        region = bucket.extra_config.get("region_name")
        cause = f"bucket {name!r} is in another region than region_name {region!r}"
        return StoreFault("wrong_region", cause, True, False, status, code)
    if code == "InvalidBucketName":
        return StoreFault(
            "bad_name", f"the store rejects the bucket name {name!r}", True, False, status, code
        )
    if (
        code in ("AccessDenied", "AllAccessDisabled")
        or status in (401, 403)
        or _named(exc, "PermissionDenied")
    ):
        cause = f"access denied to {key_hint(credentials)} (check its permissions and the bucket policy)"
        return StoreFault("denied", cause, False, False, status, code)
    if isinstance(exc, FileNotFoundError) or code == "NoSuchKey" or status == 404:
        return StoreFault("missing", "the object is missing", False, False, status, code)
    if code == "NotImplemented" or status == 501 or _named(exc, "NotSupported"):
        return StoreFault(
            "unsupported", "the store does not implement this operation", False, False, status, code
        )
    if status is None and "error sending request" in text:
        if "timed out" in text or "Timeout" in text:
            cause = f"{where(bucket)} did not answer in time; try again later"
            return StoreFault("timeout", cause, True, True)
        return StoreFault("unreachable", f"nothing answers at {where(bucket)}", True, False)
    if status is not None and (status >= 500 or status == 429):
        cause = f"the store at {where(bucket)} answered with a server error (HTTP {status}); try again later"
        return StoreFault("server_error", cause, False, True, status, code)
    cause = f"the store at {where(bucket)} failed unexpectedly ({type(exc).__name__})"
    return StoreFault("unexpected", cause, False, True, status, code)


def _named(exc: BaseException, part: str) -> bool:
    return part in type(exc).__name__
