"""Bucket URIs (``s3://bucket/prefix``, ``gs://``, ``az://``, ``file://``) as users write them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from arraylake.names import validate_prefix
from arraylake.types import Platform

_URI_SCHEMES = {
    "s3": Platform.S3,
    "gs": Platform.GS,
    "az": Platform.AZURE,
    "azure": Platform.AZURE,
    "file": Platform.LOCAL,
}


def parse_bucket_uri(uri: str, extra_config: Mapping[str, Any] | None) -> tuple[Platform, str, str]:
    """Split ``platform://bucket[/prefix]`` into (platform, bucket name, prefix).

    ``s3://`` with an ``endpoint_url`` in ``extra_config`` means an S3-compatible store; ``file://NAME``
    is a directory named NAME in the service's local storage area.
    """
    if not isinstance(uri, str) or "://" not in uri:
        raise ValueError(
            f"bucket URI must look like s3://bucket[/prefix], gs://..., az://... or file://..., got {uri!r}"
        )
    parts = urlsplit(uri)
    platform = _URI_SCHEMES.get(parts.scheme.lower())
    if platform is None:
        known = ", ".join(f"{s}://" for s in _URI_SCHEMES)
        raise ValueError(f"unsupported bucket URI scheme {parts.scheme!r} in {uri!r}; use one of {known}")
    if parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        raise ValueError(f"bucket URI {uri!r} must not carry credentials, a port, a query or a fragment")
    if not parts.netloc:
        raise ValueError(f"bucket URI {uri!r} names no bucket: expected {parts.scheme}://BUCKET[/PREFIX]")
    if platform == Platform.S3 and extra_config and extra_config.get("endpoint_url"):
        platform = Platform.S3_COMPATIBLE
    prefix = parts.path.strip("/")
    validate_prefix(prefix, what="bucket prefix")
    return platform, parts.netloc, prefix
