"""Per-request size limits of the data plane, and the 413 that names the limit and how to narrow a query."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one request may make the process build: in memory, and streamed."""

    max_response_bytes: int = 128 * MiB
    """EDR areas, Zarr chunks, images: anything built whole before it is sent."""
    max_stream_bytes: int = 8 * 1024 * MiB
    """DAP2 downloads, which are sent while they are read."""


def human_bytes(n: int) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def check_size(nbytes: int, limit: int, *, what: str, narrow: str) -> None:
    """Refuse with 413 when ``nbytes`` exceeds ``limit``: the detail names both sizes and, in ``narrow``,
    how to ask for less (e.g. "a smaller polygon, fewer parameters or a shorter datetime range")."""
    if nbytes > limit:
        raise HTTPException(
            status_code=413,
            detail=f"{what} would be {human_bytes(nbytes)}, over this service's limit of "
            f"{human_bytes(limit)} per request; ask for less: {narrow}",
        )
