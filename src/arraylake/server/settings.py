"""The service's settings: one object, read from ``ARRAYLAKE_SERVER_*`` environment variables."""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from arraylake.server.egress import EndpointPolicy

DEFAULT_PORT = 8321


class ServerSettings(BaseSettings):
    """Settings of an Arraylake service process.

    Every field can be set as ``ARRAYLAKE_SERVER_<FIELD>`` (e.g. ``ARRAYLAKE_SERVER_DATABASE_URL``).
    """

    model_config = SettingsConfigDict(env_prefix="ARRAYLAKE_SERVER_", extra="ignore")

    data_dir: Path = Field(
        default=Path("arraylake-data"), description="Catalog, local buckets and keys live here."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default: a SQLite file in the data directory. "
        "For PostgreSQL: postgresql+asyncpg://user:password@host/db",
    )
    local_storage_root: Path | None = Field(
        default=None, description="Where `local` buckets live; default: DATA_DIR/storage."
    )
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    workers: int = Field(default=1, ge=1, le=64)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "console"] = "json"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger request bodies get 413.")
    creation_lease_seconds: float = Field(
        default=300, gt=0, description="How long a repo may stay half-created before the service removes it."
    )
    cleanup_lease_seconds: float = Field(
        default=30,
        gt=0,
        description="A deletion not heard from for this long is taken over by another worker.",
    )
    janitor_interval_seconds: float = Field(
        default=10,
        gt=0,
        description="How often the scheduler looks for due work: purges of deleted repos, maintenance runs, "
        "audit checkpoints.",
    )
    maintenance_lease_seconds: float = Field(
        default=120,
        gt=0,
        description="A maintenance run not heard from for this long is taken over (and resumed) by another "
        "worker.",
    )
    maintenance_window: str = Field(
        default="sun 02:00 6h",
        description="The default weekly maintenance window (UTC) of repos whose org sets none: "
        "'DAY HH:MM DURATION', e.g. 'sun 02:00 6h'.",
    )
    maintenance_gc_margin_seconds: float = Field(
        default=24 * 3600,
        ge=0,
        description="GC's default safety margin: unreachable objects younger than this are kept (writers "
        "still in a session may need them).",
    )
    maintenance_min_gc_margin_seconds: float = Field(
        default=3600,
        ge=0,
        description="The smallest GC safety margin a repo or org policy may set.",
    )
    maintenance_run_estimate_seconds: float = Field(
        default=600,
        gt=0,
        description="How long a repo's first maintenance run is expected to take (later: its last run's).",
    )
    audit_checkpoint_entries: int = Field(
        default=1000,
        ge=1,
        description="A signed checkpoint of the audit chain is written when this many entries follow the "
        "last one, or a minute after it when any do.",
    )
    operators: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Emails of the users who operate this service: they read and verify the whole audit log "
        "(a JSON list or emails separated by commas; API clients never are operators).",
    )
    deletion_grace_seconds: float = Field(
        default=7 * 24 * 3600, ge=0, description="How long a soft-deleted repo stays restorable."
    )
    inline_delete_seconds: float = Field(
        default=20, ge=0, description="How long DELETE waits for a repo's data to go before answering 202."
    )
    delete_batch_size: int = Field(default=1000, ge=1, le=1000, description="Objects deleted per request.")
    token_cache_seconds: float = Field(default=5, ge=0, description="How long a token lookup is reused.")
    catalog_cache_seconds: float = Field(
        default=2,
        ge=0,
        description="How long a repo lookup is reused; writes in this process clear it at once, other "
        "processes' writes show within this delay (0: off).",
    )
    page_anchor_spacing: int | None = Field(
        default=None,
        ge=1,
        description="Deep pages of repos by number seek to every N-th repo of the org instead of skipping "
        "to it; default: arraylake.server.repos.page_anchors.SPACING (tests and tuning only).",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s), comma-separated, newest first, that seal stored bucket secrets; "
        "default: read from DATA_DIR/secret.key (written by `arraylake server init`).",
    )
    signing_key: SecretStr | None = Field(
        default=None,
        description="PEM of the EC P-256 key that signs login tokens; default: DATA_DIR/signing-key.pem.",
    )
    public_url: str | None = Field(
        default=None,
        description="The service's external base URL (behind a proxy); default: the URL of each request.",
    )
    oauth_client_ids: list[str] = Field(
        default=["arraylake-python"], description="OAuth clients allowed to use the device flow."
    )
    id_token_seconds: int = Field(default=3600, ge=1, description="Lifetime of a login's id token.")
    login_session_days: float = Field(default=30, gt=0, description="How long a login lasts without use.")
    device_code_seconds: int = Field(default=600, ge=1, description="How long a device code can be approved.")
    device_poll_seconds: int = Field(default=5, ge=1, description="Polling interval asked of device clients.")
    web_session_seconds: int = Field(
        default=12 * 3600, ge=60, description="How long a browser sign-in lasts."
    )
    login_failures_allowed: int = Field(
        default=3, ge=1, description="Failed sign-ins from one address before it is slowed down."
    )
    login_account_failures_allowed: int = Field(
        default=10,
        ge=1,
        description="Failed sign-ins to one account before addresses that have failed are slowed down on it "
        "(a correct password from an address with no failures is still accepted).",
    )
    login_backoff_max_seconds: int = Field(default=300, ge=1)
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Proxies trusted to say who the client is (X-Forwarded-For, X-Forwarded-Proto): "
        "comma-separated addresses or networks, or '*'; default: none, the client is whoever connects.",
    )
    allow_org_creation: bool = Field(default=True, description="Whether users may create orgs.")
    oidc_issuer: str | None = Field(
        default=None, description="External OpenID Connect provider (issuer URL)."
    )
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_display_name: str = "single sign-on"
    oidc_create_users: bool = Field(default=True, description="Create a user on first sign-in through OIDC.")
    gcp_service_token: SecretStr | None = Field(
        default=None,
        description="The service's own Google access token for gcp_customer_managed_role buckets; "
        "default: from the GCE metadata server.",
    )
    azure_client_id: str | None = Field(
        default=None, description="Entra service principal for azure_credential_delegation buckets."
    )
    azure_client_secret: SecretStr | None = None
    endpoint_networks: Annotated[list[str], NoDecode] = Field(
        default=["public"],
        description="Where bucket configs' endpoint_url and sts_endpoint_url may point (a JSON list or "
        "words separated by commas): "
        "public, loopback, private, link-local, CIDR networks or host names (arraylake.server.egress).",
    )
    aws_sts_endpoint_url: str | None = Field(
        default=None, description="STS endpoint for aws_customer_managed_role buckets; default: AWS's own."
    )
    metrics: Literal["off", "open", "token"] = Field(
        default="off",
        description="GET /metrics (Prometheus): off (404), open to anyone who reaches the service, or token "
        "(a bearer METRICS_TOKEN).",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="The bearer secret of /metrics when METRICS=token (at least 16 characters)."
    )
    compute_supervise: bool = Field(
        default=True,
        description="Run the org's enabled compute services as processes on this machine (one service "
        "process supervises them; off when they run elsewhere, e.g. `arraylake compute serve` replicas).",
    )
    compute_regions: Annotated[list[str], NoDecode] = Field(
        default=["local"],
        description="The regions compute services may be placed in (a JSON list or names separated by "
        "commas); the first is the default.",
    )
    compute_idle_seconds: float = Field(
        default=900,
        gt=0,
        description="A service with min_replicas=0 sleeps after this long without requests.",
    )
    compute_start_timeout_seconds: float = Field(
        default=120, gt=0, description="How long a compute service may take to pass its readiness check."
    )
    compute_dask_scheduler: str | None = Field(
        default=None,
        description="Address of a Dask distributed scheduler for compute services' heavy queries "
        "(DAP2 downloads, large EDR areas); default: Dask's local threads in each process.",
    )
    fault_injection: str | None = Field(
        default=None,
        description="Testing only: a fault point, where the process exits abruptly or pauses (faults.py).",
    )

    @model_validator(mode="after")
    def _metrics_token_set(self) -> ServerSettings:
        token = self.metrics_token.get_secret_value() if self.metrics_token else ""
        if self.metrics == "token" and len(token) < 16:
            raise ValueError("METRICS=token needs METRICS_TOKEN, a secret of at least 16 characters")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'catalog.db').resolve()}"

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret.key"

    @property
    def signing_key_file(self) -> Path:
        return self.data_dir / "signing-key.pem"

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @cached_property
    def storage_root(self) -> Path:
        return (self.local_storage_root or self.data_dir / "storage").resolve()

    @field_validator("compute_regions", mode="before")
    @classmethod
    def _compute_regions(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            value = (
                json.loads(text)
                if text.startswith("[")
                else [w.strip() for w in text.split(",") if w.strip()]
            )
        if isinstance(value, list) and not value:
            raise ValueError("compute_regions needs at least one region")
        return value

    @field_validator("operators", mode="before")
    @classmethod
    def _operators(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list):
            return [str(email).strip().lower() for email in value if str(email).strip()]
        return value

    @field_validator("endpoint_networks", mode="before")
    @classmethod
    def _endpoint_networks(cls, value: object) -> object:
        # A JSON list, or plain words separated by commas: "public,loopback".
        if isinstance(value, str):
            text = value.strip()
            return (
                json.loads(text)
                if text.startswith("[")
                else [p.strip() for p in text.split(",") if p.strip()]
            )
        return value

    @cached_property
    def endpoint_policy(self) -> EndpointPolicy:
        return EndpointPolicy(self.endpoint_networks)

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")
