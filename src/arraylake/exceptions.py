"""Exceptions raised by the Arraylake client.

Every HTTP failure is an :class:`ArraylakeHttpError` (a ``ValueError``, as in the hosted client) carrying the
status code, the service's ``detail`` and the request id; the subclass says which kind of failure it was.
"""

from __future__ import annotations


class ArraylakeError(Exception):
    """Base class of every error the client raises on purpose."""


class InvalidNameError(ArraylakeError, ValueError):
    """A name, nickname or prefix breaks the naming rules."""


class FeatureUnavailableError(ArraylakeError, NotImplementedError):
    """The capability exists in the API reference but this release does not provide it yet."""


class ArraylakeHttpError(ArraylakeError, ValueError):
    """The service answered with an error status."""

    def __init__(
        self, message: str, *, status_code: int, detail: object = None, request_id: str | None = None
    ):
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail
        self.request_id = request_id


class ArraylakeClientError(ArraylakeHttpError):
    """A 4xx answer: the request cannot succeed as sent."""


class ArraylakeValidationError(ArraylakeClientError):
    """422: the service refused the request's content."""


class ArraylakeAuthenticationError(ArraylakeClientError):
    """401: no valid credentials were presented."""


class ArraylakePermissionError(ArraylakeClientError):
    """403: the caller may not do this."""


class ArraylakeNotFoundError(ArraylakeClientError):
    """404: the org, repo or bucket does not exist (or is not visible to the caller)."""


class ArraylakeConflictError(ArraylakeClientError):
    """409: the name is taken, or the resource is in use."""


class ArraylakeServerError(ArraylakeHttpError):
    """A 5xx answer that persisted through the client's retries."""


class ArraylakeConnectionError(ArraylakeError, ConnectionError):
    """The service could not be reached."""


class NotArraylakeServiceError(ArraylakeConnectionError):
    """Something answered at the service's address, but not in the Arraylake dialect (a web page, an object
    store's XML, another API): most likely a wrong ``service.uri``."""

    def __init__(self, message: str, *, status_code: int, content_type: str):
        super().__init__(message)
        self.status_code = status_code
        self.content_type = content_type


class BucketNotFoundError(ArraylakeNotFoundError):
    """No bucket config with that nickname exists in the org."""


class RepoOfflineError(ArraylakeError, ValueError):
    """The repo has been put offline by an operator."""


_BY_STATUS: dict[int, type[ArraylakeClientError]] = {
    401: ArraylakeAuthenticationError,
    403: ArraylakePermissionError,
    404: ArraylakeNotFoundError,
    409: ArraylakeConflictError,
    422: ArraylakeValidationError,
}


def error_class_for_status(status_code: int) -> type[ArraylakeHttpError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return ArraylakeServerError
    return _BY_STATUS.get(status_code, ArraylakeClientError)


class CommitFailedError(ArraylakeError, RuntimeError):
    """A V1 commit could not move its branch: other commits kept winning the race, or conflicted."""


class ExpectedChunkNotFoundError(ArraylakeError, KeyError):
    """A V1 chunk reference points at an object that is not in the bucket."""
