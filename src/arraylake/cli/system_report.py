"""What this installation is, for bug reports (``arraylake --diagnostics``).

The platform, library versions, the service it talks to, and the configuration in effect with its secrets
masked.
"""

from __future__ import annotations

import locale
import os
import platform
import struct
import sys
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from arraylake._version import __version__
from arraylake.config import config as _config

# Import name -> distribution name, for the libraries that shape the client's behaviour.
LIBRARIES = {
    "icechunk": "icechunk",
    "zarr": "zarr",
    "numpy": "numpy",
    "numcodecs": "numcodecs",
    "pydantic": "pydantic",
    "httpx": "httpx",
    "donfig": "donfig",
    "yaml": "PyYAML",
    "typer": "typer",
    "click": "click",
    "rich": "rich",
    "structlog": "structlog",
    "xarray": "xarray",
    "dask": "dask",
    "distributed": "distributed",
    "fsspec": "fsspec",
    "s3fs": "s3fs",
    "h5py": "h5py",
}
_SECRET_ENDINGS = ("token", "secret", "password", "secret_access_key", "api_key", "sas_token")
MASK = "********"


def is_secret(key: str) -> bool:
    """Whether a dotted config key names a secret (``token``, ``*_secret``, ``*password``, ...)."""
    return key.rsplit(".", 1)[-1].lower().endswith(_SECRET_ENDINGS)


def mask(value: Any) -> str:
    """A secret shown by its kind only: ``ema_********``."""
    text = str(value)
    return f"ema_{MASK}" if text.startswith("ema_") else MASK


def masked(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A copy of a nested config mapping with secret values replaced by a mask."""
    copy: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            copy[key] = masked(value, f"{dotted}.")
        elif value not in (None, "") and is_secret(dotted):
            copy[key] = mask(value)
        else:
            copy[key] = value
    return copy


def get_system_info() -> dict[str, str]:
    """Python and the operating system."""
    lang, encoding = locale.getlocale()
    return {
        "python": sys.version.split()[0],
        "python-implementation": platform.python_implementation(),
        "python-bits": str(struct.calcsize("P") * 8),
        "executable": sys.executable,
        "OS": platform.system(),
        "OS-release": platform.release(),
        "machine": platform.machine(),
        "byteorder": sys.byteorder,
        "LC_ALL": os.environ.get("LC_ALL", ""),
        "LANG": os.environ.get("LANG", ""),
        "LOCALE": f"{lang}.{encoding}" if lang else "",
    }


def get_versions() -> dict[str, str]:
    """``arraylake`` and the key libraries; ``"none"`` for those not installed."""
    versions = {"arraylake": __version__}
    for name, distribution in LIBRARIES.items():
        try:
            versions[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[name] = "none"
    return versions


def get_service_info(service_uri: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """What the service at ``service_uri`` says it is (``GET /``, no credentials), or why it could not say."""
    import httpx  # not on the import path of `arraylake --help`

    info: dict[str, Any] = {"uri": service_uri}
    verify = _config.get("service.ssl.verify", True)
    cafile = _config.get("service.ssl.cafile", None)
    try:
        response = httpx.get(
            service_uri.rstrip("/") + "/", timeout=timeout, verify=cafile if (verify and cafile) else verify
        )
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        info["error"] = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return info
    info["service"] = body.get("service", "arraylake")
    info["version"] = body.get("version")
    info["api_version"] = body.get("arraylake_api_version")
    return info


def get_config_info() -> dict[str, Any]:
    """The configuration in effect, secrets masked."""
    return masked(_config.config)


def get_diagnostics(service_uri: str | None = None) -> dict[str, Any]:
    """Everything above in one mapping: ``system``, ``versions``, ``service``, ``config``."""
    return {
        "system": get_system_info(),
        "versions": get_versions(),
        "service": get_service_info(service_uri or _config.get("service.uri")),
        "config": get_config_info(),
    }
