"""Naming rules for orgs, repos, bucket nicknames, bucket names and key prefixes.

One definition, used by the client before it sends a request and by the service before it stores one. Names
are ASCII on purpose: they end up in URL paths, object-store keys and directory names.
"""

from __future__ import annotations

import re

from arraylake.exceptions import InvalidNameError

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]+")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9_.\-=+@,]+")

MAX_ORG_NAME_LENGTH = 64
MAX_REPO_NAME_LENGTH = 128
NICKNAME_LENGTH = (3, 64)
BUCKET_NAME_LENGTH = (3, 63)
MAX_PREFIX_LENGTH = 256

# Path segments the hosted service keeps for itself; new repos may not take them.
RESERVED_REPO_NAMES = frozenset(
    [
        "access",
        "analytics",
        "audit",
        "billing",
        "buckets",
        "dap2",
        "edr",
        "exchange",
        "metrics",
        "optimization",
        "publish",
        "repos",
        "repositories",
        "services",
        "settings",
        "sql",
        "tables",
        "tiles",
        "virtual-chunks",
    ]
)

_NAME_RULE = "2+ characters from A-Z a-z 0-9 _ . -, starting with a letter, digit or _"


def _check_name(kind: str, value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise InvalidNameError(f"{kind} must be a string, got {type(value).__name__}")
    if not _NAME.fullmatch(value):
        raise InvalidNameError(f"invalid {kind} {value!r}: use {_NAME_RULE}")
    if len(value) > max_length:
        raise InvalidNameError(f"invalid {kind} {value[:20]!r}...: at most {max_length} characters")
    return value


def validate_org_name(name: object) -> str:
    """Return ``name`` if it is a valid org name, else raise :class:`InvalidNameError`."""
    return _check_name("org name", name, MAX_ORG_NAME_LENGTH)


def validate_repo_name(name: object, *, new: bool = False) -> str:
    """Return ``name`` if it is a valid repo name; ``new`` also refuses the reserved names."""
    checked = _check_name("repo name", name, MAX_REPO_NAME_LENGTH)
    if new and checked.lower() in RESERVED_REPO_NAMES:
        raise InvalidNameError(f"repo name {checked!r} is reserved; choose another name")
    return checked


def parse_repo_name(full_name: object) -> tuple[str, str]:
    """Split ``"ORG/REPO"`` into its validated parts."""
    if not isinstance(full_name, str) or full_name.count("/") != 1:
        raise InvalidNameError(f"repo names have the form ORG/REPO, got {full_name!r}")
    org, repo = full_name.split("/")
    return validate_org_name(org), validate_repo_name(repo)


def validate_nickname(nickname: object) -> str:
    """Bucket nicknames: trimmed, then a name of 3 to 64 characters."""
    if not isinstance(nickname, str):
        raise InvalidNameError("bucket nickname must be a string")
    trimmed = nickname.strip()
    low, high = NICKNAME_LENGTH
    if not (low <= len(trimmed) <= high):
        raise InvalidNameError(f"invalid bucket nickname {trimmed[:70]!r}: use {low} to {high} characters")
    return _check_name("bucket nickname", trimmed, high)


def validate_bucket_name(name: object) -> str:
    """Bucket (or container, or local directory) names: 3 to 63 characters, no ``/``."""
    if not isinstance(name, str):
        raise InvalidNameError("bucket name must be a string")
    low, high = BUCKET_NAME_LENGTH
    if not (low <= len(name) <= high):
        raise InvalidNameError(f"invalid bucket name {name[:70]!r}: use {low} to {high} characters")
    return _check_name("bucket name", name, high)


def validate_prefix(prefix: object, *, what: str = "prefix") -> str:
    """A key prefix inside a bucket: ``""`` or ``/``-separated segments that cannot leave the bucket.

    Refuses leading or trailing ``/``, empty segments, ``.`` and ``..``, and anything outside a
    conservative character set.
    """
    if not isinstance(prefix, str):
        raise InvalidNameError(f"{what} must be a string")
    if prefix == "":
        return prefix
    if len(prefix) > MAX_PREFIX_LENGTH:
        raise InvalidNameError(f"{what} is too long: at most {MAX_PREFIX_LENGTH} characters")
    if prefix.startswith("/") or prefix.endswith("/"):
        raise InvalidNameError(f"invalid {what} {prefix!r}: no leading or trailing '/'")
    for segment in prefix.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidNameError(f"invalid {what} {prefix!r}: empty, '.' and '..' segments are not allowed")
        if not _PREFIX_SEGMENT.fullmatch(segment):
            raise InvalidNameError(
                f"invalid {what} {prefix!r}: use A-Z a-z 0-9 and _ . - = + @ , between '/'"
            )
    return prefix


def join_prefix(*parts: str) -> str:
    """Join prefix parts with ``/``, skipping empty ones."""
    return "/".join(part for part in parts if part)
