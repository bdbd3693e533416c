"""The service's errors: one class per kind of failure, each with one HTTP status.

Domain code raises these; the app turns them, and every other failure, into one body built by
:func:`error_response`: :class:`arraylake.types.ErrorResponse`, ``{"detail": ..., "request_id": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

from arraylake.types import ErrorResponse


def error_response(
    scope: Mapping[str, Any], status: int, detail: object, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The answer to a failed request: ``detail`` and the request's id (from ``scope``), with ``status``."""
    body = ErrorResponse(detail=detail, request_id=scope.get("state", {}).get("request_id"))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


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
