"""The catalog's tables (SQLAlchemy Core). Alembic migrations under ``migrations/`` create them.

Queries use Core, not ORM objects: the hot paths fetch a few columns by index and nothing more.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog; use arraylake.types.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=naming_convention)

UUID_LEN = 36

orgs = Table(
    "orgs",
    metadata,
    Column("id", String(UUID_LEN), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("display_name", String(256), nullable=False, default=""),
    Column("description", Text, nullable=True),
    Column("default_bucket_id", String(UUID_LEN), nullable=True),
    Column("created", UtcDateTime, nullable=False),
    Column("created_by", String(UUID_LEN), nullable=True),
    # How many of the org's repos are active: kept by database triggers (migrations 0004, 0006), so that a
    # page of repos does not count the whole catalog.
    Column("active_repos", BigInteger, nullable=False, server_default="0"),
    # Goes up with every change to the ordered list of the org's active repos (triggers, migration 0006):
    # a process's anchors for deep pages of repos are current while it is unchanged.
    Column("repo_list_version", BigInteger, nullable=False, server_default="0"),
)

principals = Table(
    "principals",
    metadata,
    Column("id", String(UUID_LEN), primary_key=True),
    Column("kind", String(16), nullable=False),  # "user" or "api_client"
    Column("email", String(320), nullable=False),
    Column("first_name", String(128), nullable=True),
    Column("family_name", String(128), nullable=True),
    Column("display_name", String(256), nullable=False, default=""),
    # API clients belong to one org; users to none (they join orgs through memberships).
    Column("org_id", String(UUID_LEN), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=True),
    Column("created", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),
    # Users only: the lower-cased email they sign in with, their argon2 password hash, and the
    # "issuer|subject" of an external OpenID Connect account linked to them.
    Column("login_email", String(320), nullable=True),
    Column("password_hash", String(256), nullable=True),
    Column("external_subject", String(512), nullable=True),
    Index(None, "org_id"),
    # Unique indexes rather than constraints: SQLite adds them without rebuilding the table.
    Index(None, "login_email", unique=True),
    Index(None, "external_subject", unique=True),
)

memberships = Table(
    "memberships",
    metadata,
    Column("org_id", String(UUID_LEN), ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "principal_id", String(UUID_LEN), ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("role", String(32), nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Index(None, "principal_id"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(UUID_LEN), primary_key=True),
    # SHA-256 of the token: tokens carry 256 random bits, so a fast hash is safe and keeps lookups O(1).
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("hint", String(16), nullable=False),
    Column("principal_id", String(UUID_LEN), ForeignKey("principals.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False, default=""),
    Column("created", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index(None, "principal_id"),
)

buckets = Table(
    "buckets",
    metadata,
    Column("id", String(UUID_LEN), primary_key=True),
    Column("org_id", String(UUID_LEN), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("nickname", String(64), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("name", String(63), nullable=False),
    Column("prefix", String(256), nullable=False, default=""),
    Column("extra_config", JSON, nullable=False),
    Column("auth_method", String(64), nullable=False),
    Column("auth_config", JSON, nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("updated", UtcDateTime, nullable=False),
    Column("created_by", String(320), nullable=True),
    UniqueConstraint("org_id", "nickname"),
    Index(None, "platform", "name"),
)

# Lifecycle of a repo row:
#   creating -> active          (create mode: hidden until the client activates it, reaped after its lease)
#   active   -> ghost           (soft delete: hidden, name kept, restorable until cleanup_due_at)
#   active|ghost|creating -> deleting  (data removal under way; the row goes when the data has gone)
LIFECYCLE_CREATING = "creating"
LIFECYCLE_ACTIVE = "active"
LIFECYCLE_GHOST = "ghost"
LIFECYCLE_DELETING = "deleting"

repos = Table(
    "repos",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("org_id", String(UUID_LEN), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    # Equal to `name` while the row holds the name, NULL once freed: UNIQUE(org_id, live_name) then
    # enforces one holder per name on every backend (NULLs never collide).
    Column("live_name", String(128), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("bucket_id", String(UUID_LEN), ForeignKey("buckets.id"), nullable=True),
    Column("prefix", String(512), nullable=False),
    Column("description", String(255), nullable=True),
    Column("metadata", JSON, nullable=True),
    Column("visibility", String(32), nullable=False),
    Column("status_mode", String(16), nullable=False),
    Column("status_message", Text, nullable=True),
    Column("status_initiated_by", JSON, nullable=False),
    Column("status_estimated_end_time", UtcDateTime, nullable=True),
    Column("created", UtcDateTime, nullable=False),
    Column("updated", UtcDateTime, nullable=False),
    Column("created_by", String(UUID_LEN), nullable=True),
    Column("lifecycle", String(16), nullable=False),
    Column("lease_expires_at", UtcDateTime, nullable=True),
    Column("deleted_at", UtcDateTime, nullable=True),
    Column("deleted_by", String(UUID_LEN), nullable=True),
    Column("retain_data", Boolean, nullable=False, default=False),
    Column("cleanup_due_at", UtcDateTime, nullable=True),
    Column("cleanup_started_at", UtcDateTime, nullable=True),
    Column("cleanup_removed", BigInteger, nullable=True),  # objects removed so far by a deletion
    UniqueConstraint("org_id", "live_name"),
    # Covers a page of an org's repos (order by name, id), so that skipping to page N reads only the index.
    Index(None, "org_id", "lifecycle", "name", "id"),
    Index(None, "bucket_id", "prefix"),
    Index(None, "lifecycle", "cleanup_due_at"),
)

# One row per metadata value (and per element of a list value) so that metadata filters are indexed
# equality lookups; values are stored as the SHA-1 of their canonical JSON to keep index entries small.
repo_metadata = Table(
    "repo_metadata",
    metadata,
    Column("repo_id", String(24), ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value_hash", String(40), primary_key=True),
    Index(None, "key", "value_hash"),
)

# Per-repo grants of RepoActions, to any principal (member of the repo's org or not).
repo_grants = Table(
    "repo_grants",
    metadata,
    Column("repo_id", String(24), ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "principal_id", String(UUID_LEN), ForeignKey("principals.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("action", String(32), primary_key=True),
    Column("created", UtcDateTime, nullable=False),
    Column("created_by", String(UUID_LEN), nullable=True),
    Index(None, "principal_id"),
)

# A signed-in client (device flow): its tokens carry the session id, so revoking the session ends them all.
login_sessions = Table(
    "login_sessions",
    metadata,
    Column("id", String(UUID_LEN), primary_key=True),
    Column("principal_id", String(UUID_LEN), ForeignKey("principals.id", ondelete="CASCADE"), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index(None, "principal_id"),
)

# Refresh tokens rotate on every use; presenting a used one again revokes its whole session.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "session_id", String(UUID_LEN), ForeignKey("login_sessions.id", ondelete="CASCADE"), nullable=False
    ),
    Column("created", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Index(None, "session_id"),
)

# RFC 8628 device authorization requests.
device_codes = Table(
    "device_codes",
    metadata,
    Column("device_code_hash", String(64), primary_key=True),
    Column("user_code", String(16), nullable=False, unique=True),
    Column("client_id", String(64), nullable=False),
    Column("scope", String(256), nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("interval", Integer, nullable=False),
    Column("last_polled_at", UtcDateTime, nullable=True),
    Column("status", String(16), nullable=False),  # pending, approved, denied, consumed
    Column("principal_id", String(UUID_LEN), ForeignKey("principals.id", ondelete="CASCADE"), nullable=True),
)

# Failed sign-ins, per email and per client address, to slow down guessing.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UtcDateTime, nullable=False),
)

# Which buckets (and sub-prefixes of them) an org lets its repos' virtual chunk references read from.
virtual_chunk_policies = Table(
    "virtual_chunk_policies",
    metadata,
    Column("id", String(UUID_LEN), primary_key=True),
    Column("org_id", String(UUID_LEN), ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("bucket_id", String(UUID_LEN), ForeignKey("buckets.id", ondelete="CASCADE"), nullable=False),
    Column("subprefix", String(256), nullable=False),
    Column("public", Boolean, nullable=False),
    Column("created", UtcDateTime, nullable=False),
    Column("created_by", String(UUID_LEN), nullable=True),
    UniqueConstraint("bucket_id", "subprefix"),
    Index(None, "org_id"),
)
