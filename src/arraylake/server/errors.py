"""The service's errors: one class per kind of failure, each with one HTTP status.

Domain code raises these; the app turns them into ``{"detail": ..., "request_id": ...}`` responses.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class; ``detail`` is shown to the caller, so it must never hold a secret."""

    status_code = 500

    def __init__(self, detail: object, *, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class InvalidInput(ServiceError):
    status_code = 422


class Unauthorized(ServiceError):
    status_code = 401

    def __init__(self, detail: object):
        super().__init__(detail, headers={"www-authenticate": "Bearer"})


class Forbidden(ServiceError):
    status_code = 403


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    status_code = 409


class StorageRefused(ServiceError):
    """The object store refused (access denied, no such bucket, wrong keys) or nothing answers at its
    endpoint: retrying won't help, and the answer says so."""

    status_code = 424

    def __init__(self, detail: object):
        super().__init__(detail, headers={"x-arraylake-retry": "no"})


class StorageUnavailable(ServiceError):
    """The object store could not be reached."""

    status_code = 502


class ServiceUnavailable(ServiceError):
    """The catalog database is unreachable; the request may be retried."""

    status_code = 503


class UpstreamRefused(ServiceError):
    """A store or its STS answered but refused: 502 (the failure is upstream), marked not worth retrying."""

    status_code = 502

    def __init__(self, detail: object):
        super().__init__(detail, headers={"x-arraylake-retry": "no"})
