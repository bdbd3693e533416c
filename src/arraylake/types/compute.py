"""Compute services (the hosted product's "Flux"): a deployment serves every repo of an org over one protocol.

The bodies follow the hosted dialect of both published client lines: the 0.15 client posts every field of
its ``ServiceConfig`` (``replicas``, ``cache_ttl``, ``cache_size`` included) and reads the logs as a JSON
string; the 1.7 client posts only the fields it sets, with a required ``sku_code``, and streams the logs as
text lines. ``DeploymentInfo`` always carries ``created``, which both lines can read.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from arraylake.types.common import UtcDatetime, WireModel


class ServiceType(StrEnum):
    """The protocol a deployment speaks; also the last segment before a protocol's own path in its URLs."""

    DAP2 = "dap2"
    EDR = "edr"
    WMS = "wms"
    ZARR = "zarr"
    TILES = "tiles"

    @property
    def url_suffix(self) -> str:
        """The segment that follows the group in a data URL (``opendap`` for DAP2, else the type itself)."""
        return "opendap" if self is ServiceType.DAP2 else self.value


class ServiceStatus(StrEnum):
    AVAILABLE = "available"
    """Its readiness check passes: it answers requests."""
    PROGRESSING = "progressing"
    """Starting (or restarting after a change)."""
    UNKNOWN = "unknown"
    ERROR = "error"
    """It crashed or failed its readiness check; the detail says why. The supervisor retries with backoff."""
    SLEEPING = "sleeping"
    """Scaled to zero after an idle period (``min_replicas=0``); the next request starts it."""
    STOPPED = "stopped"
    """Disabled: no process runs. Its logs stay readable."""
    SUSPENDED = "suspended"
    QUOTA_EXCEEDED = "quota_exceeded"
    ORG_SUSPENDED = "org_suspended"


DEPLOYMENT_NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?$")
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ServiceConfig(WireModel):
    """How a deployment runs. Unknown keys are ignored; the 0.15 names (``replicas``, ``cache_ttl``,
    ``cache_size``) are read as ``min_replicas``, ``store_cache_ttl`` and ``store_cache_size``."""

    service_type: ServiceType
    org: str
    is_public: bool = False
    deployment_name: str | None = None
    service_version: str | None = None
    min_replicas: int | None = Field(default=1, ge=0, le=64)
    max_replicas: int | None = Field(default=24, ge=1, le=64)
    store_cache_ttl: int | None = Field(default=None, ge=0, le=86400)
    store_cache_size: int | None = Field(default=None, ge=0, le=10_000)
    cache_max_age: int | None = Field(default=0, ge=0, le=365 * 86400)
    icechunk_cache_chunk_bytes: int | None = Field(default=None, ge=0)
    icechunk_cache_chunk_ref_count: int | None = Field(default=None, ge=0)
    zarr_concurrency: int | None = Field(default=None, ge=1, le=1024)
    zarr_codec_pipeline_batch_size: int | None = Field(default=None, ge=1, le=65536)
    zarr_max_workers: int | None = Field(default=None, ge=1, le=1024)
    log_level: LogLevel = "INFO"
    use_dask: bool = False
    tiles_num_threads: int | None = Field(default=None, ge=1, le=256)
    tiles_num_concurrent_data_loads: int | None = Field(default=None, ge=1, le=256)
    tiles_max_renderable_size: int | None = Field(default=None, ge=1)
    sku_code: str | None = None
    spot: bool | None = None
    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    region: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _read_legacy_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for old, new in (
            ("replicas", "min_replicas"),
            ("cache_ttl", "store_cache_ttl"),
            ("cache_size", "store_cache_size"),
        ):
            if old in data and data.get(new) is None:
                data[new] = data.pop(old)
            else:
                data.pop(old, None)
        return data

    @field_validator("deployment_name")
    @classmethod
    def _check_name(cls, name: str | None) -> str | None:
        if name is not None and not DEPLOYMENT_NAME_PATTERN.fullmatch(name):
            raise ValueError(
                "deployment_name must be 1-16 characters: lowercase letters, digits and inner dashes "
                f"(got {name!r})"
            )
        return name

    @model_validator(mode="after")
    def _check_replicas(self) -> ServiceConfig:
        if (
            self.min_replicas is not None
            and self.max_replicas is not None
            and self.min_replicas > self.max_replicas
        ):
            raise ValueError(f"min_replicas ({self.min_replicas}) exceeds max_replicas ({self.max_replicas})")
        return self

    def __str__(self) -> str:
        base = f"{self.service_type.value}://{self.org}"
        return f"{base}/{self.deployment_name}" if self.deployment_name else base


class DeploymentInfo(WireModel):
    """One deployment as listed: its name (the service id of status, logs, update and disable), the base
    URL its data is served under, its configuration and its state."""

    name: str
    url: str
    created: UtcDatetime
    config: ServiceConfig
    status: ServiceStatus
    ready_replicas: int = 0
    region: str | None = None
    status_detail: str | None = None
    """Why a deployment is in ``error`` (an extension, which the hosted clients ignore)."""


class ServiceUpdate(WireModel):
    """A ``PATCH``: only the given keys change; an explicit ``null`` is refused."""

    sku_code: str | None = None
    min_replicas: int | None = Field(default=None, ge=0, le=64)
    max_replicas: int | None = Field(default=None, ge=1, le=64)


class ComputeRegion(WireModel):
    name: str
    location: str | None = None
    default: bool = False


class ComputeSku(WireModel):
    """A size a deployment runs at (an extension: the hosted service does not list its SKUs)."""

    code: str
    description: str
    threads: int
    """Threads for data loads (and Dask) per process."""
    concurrency: int
    """Requests a process serves at once; beyond this it answers 503."""
    memory_mb: int
    """What a process is sized for; its caches are scaled to it."""
    max_response_bytes: int
    """The largest response built in memory (EDR areas, Zarr chunks, images); larger requests get 413."""
    max_stream_bytes: int
    """The largest streamed response (DAP2 downloads)."""
