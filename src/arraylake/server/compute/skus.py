"""The sizes a deployment runs at. A replica is one process; its SKU bounds what it does at once and how
much it builds in memory for one response."""

from __future__ import annotations

from arraylake.types.compute import ComputeSku

MiB = 1024 * 1024
GiB = 1024 * MiB

SKUS: dict[str, ComputeSku] = {
    sku.code: sku
    for sku in (
        ComputeSku(
            code="xs",
            description="1 thread, 512 MB: a test or a handful of users",
            threads=1,
            concurrency=8,
            memory_mb=512,
            max_response_bytes=64 * MiB,
            max_stream_bytes=2 * GiB,
        ),
        ComputeSku(
            code="s",
            description="2 threads, 1 GB: a team",
            threads=2,
            concurrency=32,
            memory_mb=1024,
            max_response_bytes=128 * MiB,
            max_stream_bytes=8 * GiB,
        ),
        ComputeSku(
            code="m",
            description="4 threads, 4 GB: busy dashboards, larger EDR areas",
            threads=4,
            concurrency=64,
            memory_mb=4096,
            max_response_bytes=512 * MiB,
            max_stream_bytes=32 * GiB,
        ),
        ComputeSku(
            code="l",
            description="8 threads, 16 GB: heavy extraction",
            threads=8,
            concurrency=128,
            memory_mb=16384,
            max_response_bytes=2 * GiB,
            max_stream_bytes=128 * GiB,
        ),
    )
}

DEFAULT_SKU = "s"
"""What a deployment enabled without a SKU (the 0.15 client sends none) runs at."""
