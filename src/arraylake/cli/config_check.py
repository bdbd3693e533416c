"""The config keys the client reads, what values they take, and which of them are secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictBool, TypeAdapter, ValidationError

from arraylake.cli.system_report import is_secret
from arraylake.exceptions import ArraylakeError


class ConfigValueError(ArraylakeError, ValueError):
    """A config key holds a value the client cannot use."""


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


def _api_token(value: str) -> str:
    if not value.startswith(("ema_", "ey")):
        raise ValueError("API tokens start with 'ema_'")
    return value


def _log_level(value: str) -> str:
    if value.upper() not in ("", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("use DEBUG, INFO, WARNING, ERROR or CRITICAL (or leave it empty)")
    return value


_Seconds = Annotated[float, Field(gt=0)]
_Count = Annotated[int, Field(ge=0)]

KNOWN_KEYS: dict[str, Any] = {
    "service.uri": Annotated[str, AfterValidator(_http_url)],
    "service.token_path": str,
    "service.ssl.verify": StrictBool,
    "service.ssl.cafile": str,
    "token": Annotated[str, AfterValidator(_api_token)],
    "http.timeout": _Seconds,
    "http.max_retries": _Count,
    "http.retries": _Count,
    "http.max_keepalive_connections": _Count,
    "http.keepalive_expiry": _Seconds,
    "icechunk.scatter_initial_credentials": StrictBool,
    "log_level": Annotated[str, AfterValidator(_log_level)],
    "user.org": str,
}
"""Dotted key -> the type of its values; every key but ``service.uri`` may also be unset (null)."""

_ADAPTERS = {key: TypeAdapter(kind) for key, kind in KNOWN_KEYS.items()}


def check_value(key: str, value: Any) -> None:
    """Raise :class:`ConfigValueError` if ``key`` is a known key and ``value`` does not fit it."""
    adapter = _ADAPTERS.get(key)
    if adapter is None or (value is None and key != "service.uri"):
        return
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        reason = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        shown = "(hidden)" if is_secret(key) else repr(value)
        raise ConfigValueError(f"bad config value for {key}: {shown}: {reason}") from None


def check_config(config: Any) -> None:
    """Raise :class:`ConfigValueError` for the first known key whose value in ``config`` is unusable."""
    for key in KNOWN_KEYS:
        check_value(key, config.get(key, None))


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; empty mappings stay as they are."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat
