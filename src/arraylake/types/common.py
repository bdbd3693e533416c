"""The base of every wire model: UTC datetimes, secrets that travel in clear only inside JSON, and the
text rules every request body obeys. Also the bodies that belong to no domain: the service's identity and
its error body.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, SecretStr, model_validator


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


class ServiceInfo(WireModel):
    """Body of ``GET /``: what the service is."""

    arraylake_api_version: str
    service: str = "arraylake-open"
    version: str


class ErrorResponse(WireModel):
    """Body of every error answer of the API (except OAuth's own): what went wrong, and the request's id."""

    detail: Any
    request_id: str | None = None
