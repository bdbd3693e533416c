"""Settings of a data plane process, read from ``ARRAYLAKE_DATAPLANE_*`` environment variables.

The service's supervisor sets them for the deployments it runs; ``arraylake compute serve`` sets them from
its options, so that every worker process (uvicorn starts them afresh) reads the same settings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from arraylake.dataplane.limits import Limits
from arraylake.types.compute import ServiceType

ENV_PREFIX = "ARRAYLAKE_DATAPLANE_"
_DEFAULT_LIMITS = Limits()


class DataPlaneSettings(BaseSettings):
    """What one deployment serves, to whom, and within which limits."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    service_url: str = Field(
        default="http://127.0.0.1:8321",
        description="The Arraylake service: callers are authenticated and repos opened through its API.",
    )
    org: str = Field(default="", description="The org whose repos this deployment serves.")
    deployment: str = Field(default="", description="The deployment's name (shown by /_health).")
    protocol: ServiceType = Field(default=ServiceType.ZARR, description="The protocol served.")
    public_url: str | None = Field(
        default=None,
        description="Base of the data URLs as clients see them (the deployment's url). Default: the "
        "X-Arraylake-Public-Base header the service's proxy sends, else the request's own base URL.",
    )
    is_public: bool = Field(default=False, description="Anonymous requests read as READER_TOKEN.")
    reader_token: SecretStr | None = Field(
        default=None, description="The token anonymous requests of a public deployment read as."
    )
    max_response_bytes: int = Field(default=_DEFAULT_LIMITS.max_response_bytes, ge=1)
    max_stream_bytes: int = Field(default=_DEFAULT_LIMITS.max_stream_bytes, ge=1)
    threads: int = Field(default=2, ge=1, le=256, description="Dask threads per process.")
    concurrency: int = Field(
        default=32, ge=1, description="Requests a process serves at once; beyond this it answers 503."
    )
    store_cache_ttl: float = Field(
        default=60,
        ge=0,
        description="Seconds an opened repo (and the caller's permission to read it) is reused: a revoked "
        "permission takes effect within this time.",
    )
    store_cache_size: int = Field(default=10, ge=0, description="Open datasets kept per process.")
    cache_max_age: int = Field(
        default=0, ge=0, description="Seconds a branch URL's response may be reused before revalidating."
    )
    dask_scheduler: str | None = Field(
        default=None,
        description="Address of a Dask distributed scheduler for DAP2 and EDR queries (its workers must "
        "reach the storage); default: Dask's threads in this process.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("public_url", "dask_scheduler", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def limits(self) -> Limits:
        return Limits(max_response_bytes=self.max_response_bytes, max_stream_bytes=self.max_stream_bytes)
