"""Bucket configs: create, read, change, delete, choose the org default.

Secrets in auth configs are sealed before they are stored and opened when a bucket is handed out.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record
from arraylake.server.credentials.binding import bind, org_binding
from arraylake.server.db.schema import LIFECYCLE_ACTIVE, buckets, orgs, repos
from arraylake.server.egress import EndpointNotAllowed
from arraylake.server.errors import Conflict, InvalidInput, NotFound
from arraylake.server.identity.principals import Membership, OrgScope, Principal
from arraylake.server.private_files import private_dir
from arraylake.server.sealing import SEALED_PREFIX, SecretBox
from arraylake.server.settings import ServerSettings
from arraylake.types import (
    LOCAL_PATH_KEY,
    AuthConfig,
    AuthMethod,
    BucketModifyRequest,
    BucketResponse,
    NewBucket,
    Platform,
    check_platform_rules,
    utcnow,
)

SUPPORTED_AUTH_METHODS = frozenset(
    {
        AuthMethod.ANONYMOUS,
        AuthMethod.HMAC,
        AuthMethod.STS_ASSUME_ROLE,
        AuthMethod.AWS_CUSTOMER_MANAGED_ROLE,
        AuthMethod.GCP_CUSTOMER_MANAGED_ROLE,
        AuthMethod.AZURE_CREDENTIAL_DELEGATION,
    }
)
SECRET_FIELDS = frozenset(
    {"secret_access_key", "shared_secret", "account_api_token", "parent_secret_access_key", "external_id"}
)
# Secrets that org admins (who may see bucket secrets) get in clear: HMAC keys, and the org's AWS external id,
# which they put in their roles' trust policies. The keys behind role-based methods never leave the service.
_REVEALED_TO_ADMINS = {
    AuthMethod.HMAC: frozenset(SECRET_FIELDS),
    AuthMethod.AWS_CUSTOMER_MANAGED_ROLE: frozenset({"shared_secret"}),
}
_auth_adapter: TypeAdapter[Any] = TypeAdapter(AuthConfig)
MASKED = "********"  # what principals who may not see a secret get in its place


class BucketCodec:
    """Turns bucket rows into wire models and auth configs into storable (sealed) JSON."""

    def __init__(self, settings: ServerSettings, secrets: SecretBox):
        self.settings = settings
        self.secrets = secrets

    def local_path(self, org_name: str, bucket_name: str) -> Path:
        # Each org gets its own area, so one org's local bucket can never name another org's files.
        return self.settings.storage_root / org_name / bucket_name

    def seal_auth(self, auth: Any) -> dict[str, Any]:
        data = auth.model_dump(mode="json")
        return {k: self.secrets.seal(v) if k in SECRET_FIELDS and v else v for k, v in data.items()}

    def _open(self, item: str) -> str:
        # external_id of sts_assume_role was stored in clear before it was sealed.
        return self.secrets.open(item) if item.startswith(SEALED_PREFIX) else item

    def open_auth(self, stored: dict[str, Any], *, reveal: bool = True, internal: bool = False) -> Any:
        method = stored.get("method")
        revealed = _REVEALED_TO_ADMINS.get(AuthMethod(method), frozenset()) if method else frozenset()

        def value(key: str, item: Any) -> Any:
            if key not in SECRET_FIELDS or not item:
                return item
            return self._open(item) if internal or (reveal and key in revealed) else MASKED

        return _auth_adapter.validate_python({k: value(k, v) for k, v in stored.items()})

    def to_wire(
        self,
        row: Row,
        *,
        default_bucket_id: str | None,
        org_name: str,
        reveal_secrets: bool = True,
        internal: bool = False,
    ) -> BucketResponse:
        """The wire model; ``internal`` opens every secret, for the service's own use only."""
        extra = dict(row.extra_config)
        if row.platform == Platform.LOCAL:
            extra[LOCAL_PATH_KEY] = str(self.local_path(org_name, row.name))
        return BucketResponse(
            id=row.id,
            nickname=row.nickname,
            platform=row.platform,
            name=row.name,
            prefix=row.prefix,
            extra_config=extra,
            created=row.created,
            updated=row.updated,
            created_by=row.created_by,
            is_default=row.id == default_bucket_id,
            auth_config=self.open_auth(row.auth_config, reveal=reveal_secrets, internal=internal),
        )

    def shown(
        self, opened: BucketResponse, *, default_bucket_id: str | None, reveal_secrets: bool = True
    ) -> BucketResponse:
        """What :meth:`to_wire` answers for callers, from a bucket it already opened with ``internal``:
        the secrets masked again, so a request that needs both views decrypts them once."""
        auth = opened.auth_config
        if auth is not None:
            stored = auth.model_dump(mode="json")
            revealed = _REVEALED_TO_ADMINS.get(AuthMethod(auth.method), frozenset()) if reveal_secrets else ()
            auth = _auth_adapter.validate_python(
                {
                    key: MASKED if key in SECRET_FIELDS and value and key not in revealed else value
                    for key, value in stored.items()
                }
            )
        return opened.model_copy(
            update={"auth_config": auth, "is_default": str(opened.id) == default_bucket_id}
        )


def _check_supported(auth: Any) -> None:
    if AuthMethod(auth.method) not in SUPPORTED_AUTH_METHODS:
        supported = ", ".join(sorted(m.value for m in SUPPORTED_AUTH_METHODS))
        raise InvalidInput(
            f"auth method {auth.method} is not supported by this service yet (supported: {supported})"
        )


def _check_endpoints(codec: BucketCodec, extra: dict[str, Any], auth: Any) -> None:
    """The endpoints the service would connect to must be in networks the operator allows (egress.py)."""
    declared = [
        ("endpoint_url", extra.get("endpoint_url")),
        ("sts_endpoint_url", getattr(auth, "sts_endpoint_url", None)),
    ]
    for what, url in declared:
        if url:
            try:
                codec.settings.endpoint_policy.check_declared(str(url), what)
            except EndpointNotAllowed as exc:
                raise InvalidInput(str(exc)) from exc


async def _bound(conn: AsyncConnection, org: OrgScope, auth: Any) -> Any:
    """The auth config with the org's storage binding in place (credentials/binding.py)."""
    return bind(auth, await org_binding(conn, org.org_id))


async def default_bucket_id(conn: AsyncConnection, org_id: str) -> str | None:
    return (
        await conn.execute(select(orgs.c.default_bucket_id).where(orgs.c.id == org_id))
    ).scalar_one_or_none()


async def list_buckets(
    conn: AsyncConnection,
    codec: BucketCodec,
    org: Membership,
    *,
    nickname: str | None = None,
    reveal_secrets: bool = False,
) -> list[BucketResponse]:
    query = select(buckets).where(buckets.c.org_id == org.org_id).order_by(buckets.c.nickname)
    if nickname is not None:
        query = query.where(buckets.c.nickname == nickname.strip())
    rows = (await conn.execute(query)).all()
    default_id = await default_bucket_id(conn, org.org_id)
    return [
        codec.to_wire(r, default_bucket_id=default_id, org_name=org.org_name, reveal_secrets=reveal_secrets)
        for r in rows
    ]


async def bucket_row(conn: AsyncConnection, org: OrgScope, bucket_id: str) -> Row:
    row = (
        await conn.execute(select(buckets).where(buckets.c.org_id == org.org_id, buckets.c.id == bucket_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"bucket config {bucket_id} not found in org {org.org_name}")
    return row


async def bucket_row_by_nickname(conn: AsyncConnection, org: OrgScope, nickname: str) -> Row:
    row = (
        await conn.execute(
            select(buckets).where(buckets.c.org_id == org.org_id, buckets.c.nickname == nickname.strip())
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"bucket config {nickname.strip()!r} not found in org {org.org_name}")
    return row


async def get_bucket(
    conn: AsyncConnection, codec: BucketCodec, org: Membership, bucket_id: str, *, reveal_secrets: bool = True
) -> BucketResponse:
    row = await bucket_row(conn, org, bucket_id)
    default_id = await default_bucket_id(conn, org.org_id)
    return codec.to_wire(
        row, default_bucket_id=default_id, org_name=org.org_name, reveal_secrets=reveal_secrets
    )


def _check_local_path(codec: BucketCodec, org: Membership, name: str, prefix: str) -> None:
    area = (codec.settings.storage_root / org.org_name).resolve()
    target = (codec.local_path(org.org_name, name) / prefix).resolve()
    if target != area and area not in target.parents:
        raise InvalidInput("local bucket path leaves the org's storage area")


async def create_bucket(
    conn: AsyncConnection, codec: BucketCodec, org: Membership, principal: Principal, new: NewBucket
) -> BucketResponse:
    _check_supported(new.auth_config)
    if new.platform == Platform.LOCAL:
        _check_local_path(codec, org, new.name, new.prefix)
    _check_endpoints(codec, new.extra_config, new.auth_config)
    auth = await _bound(conn, org, new.auth_config)
    now = utcnow()
    bucket_id = str(uuid.uuid4())
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(buckets).values(
                    id=bucket_id,
                    org_id=org.org_id,
                    nickname=new.nickname,
                    platform=new.platform.value,
                    name=new.name,
                    prefix=new.prefix,
                    extra_config=new.extra_config,
                    auth_method=auth.method,
                    auth_config=codec.seal_auth(auth),
                    created=now,
                    updated=now,
                    created_by=principal.email,
                )
            )
    except IntegrityError as exc:
        raise Conflict(
            f"a bucket config named {new.nickname!r} already exists in org {org.org_name}"
        ) from exc
    if new.platform == Platform.LOCAL:
        private_dir(codec.local_path(org.org_name, new.name))
    await record(
        conn,
        "bucket.create",
        actor=principal,
        org_id=org.org_id,
        org=org.org_name,
        target=new.nickname,
        details={
            "bucket_id": bucket_id,
            "platform": new.platform.value,
            "name": new.name,
            "prefix": new.prefix,
            "auth_method": auth.method,
        },
    )
    return await get_bucket(conn, codec, org, bucket_id)


async def repo_names_using(conn: AsyncConnection, bucket_id: str, limit: int = 10) -> tuple[list[str], int]:
    rows = (
        await conn.execute(
            select(repos.c.name, repos.c.lifecycle)
            .where(repos.c.bucket_id == bucket_id)
            .order_by(repos.c.name)
        )
    ).all()
    names = [r.name if r.lifecycle == LIFECYCLE_ACTIVE else f"{r.name} ({r.lifecycle})" for r in rows[:limit]]
    return names, len(rows)


def _in_use_message(nickname: str, names: list[str], total: int, doing: str) -> str:
    more = f" and {total - len(names)} more" if total > len(names) else ""
    return f"bucket config {nickname!r} is used by repos {', '.join(names)}{more}: cannot {doing}"


async def modify_bucket(
    conn: AsyncConnection,
    codec: BucketCodec,
    org: Membership,
    principal: Principal,
    bucket_id: str,
    change: BucketModifyRequest,
) -> BucketResponse:
    row = await bucket_row(conn, org, bucket_id)
    current = codec.to_wire(row, default_bucket_id=None, org_name=org.org_name, internal=True)
    moves = {
        key: value
        for key, value in (("platform", change.platform), ("name", change.name), ("prefix", change.prefix))
        if value is not None and value != getattr(current, key)
    }
    if moves:
        names, total = await repo_names_using(conn, bucket_id)
        if total:
            raise Conflict(
                _in_use_message(row.nickname, names, total, f"change its {', '.join(sorted(moves))}")
            )
    platform = Platform(moves.get("platform", current.platform))
    name = moves.get("name", current.name)
    prefix = moves.get("prefix", current.prefix)
    extra = change.extra_config if change.extra_config is not None else dict(row.extra_config)
    auth = change.auth_config if change.auth_config is not None else current.auth_config
    assert auth is not None, "to_wire always opens the stored auth config"
    try:
        check_platform_rules(platform, extra, auth)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    _check_supported(auth)
    if platform == Platform.LOCAL:
        _check_local_path(codec, org, name, prefix)
    _check_endpoints(codec, extra, auth)
    auth = await _bound(conn, org, auth)
    values: dict[str, Any] = {
        "platform": platform.value,
        "name": name,
        "prefix": prefix,
        "extra_config": extra,
        "auth_method": auth.method,
        "auth_config": codec.seal_auth(auth),
        "updated": utcnow(),
    }
    if change.nickname is not None:
        values["nickname"] = change.nickname
    try:
        async with conn.begin_nested():
            await conn.execute(update(buckets).where(buckets.c.id == bucket_id).values(**values))
    except IntegrityError as exc:
        raise Conflict(
            f"a bucket config named {change.nickname!r} already exists in org {org.org_name}"
        ) from exc
    await record(
        conn,
        "bucket.update",
        actor=principal,
        org_id=org.org_id,
        org=org.org_name,
        target=values.get("nickname", row.nickname),
        details={
            "bucket_id": bucket_id,
            # Names of the fields the request set, never their values: an auth config holds secrets.
            "fields": sorted(change.model_fields_set),
            "previous_nickname": row.nickname,
            "platform": platform.value,
            "name": name,
            "prefix": prefix,
            "auth_method": auth.method,
            "previous_auth_method": row.auth_method,
        },
    )
    return await get_bucket(conn, codec, org, bucket_id)


async def delete_bucket(conn: AsyncConnection, org: Membership, principal: Principal, bucket_id: str) -> None:
    row = await bucket_row(conn, org, bucket_id)
    names, total = await repo_names_using(conn, bucket_id)
    if total:
        raise Conflict(_in_use_message(row.nickname, names, total, "delete it"))
    await conn.execute(
        update(orgs)
        .where(orgs.c.id == org.org_id, orgs.c.default_bucket_id == bucket_id)
        .values(default_bucket_id=None)
    )
    await conn.execute(delete(buckets).where(buckets.c.id == bucket_id))
    await record(
        conn,
        "bucket.delete",
        actor=principal,
        org_id=org.org_id,
        org=org.org_name,
        target=row.nickname,
        details={"bucket_id": bucket_id, "platform": row.platform, "name": row.name, "prefix": row.prefix},
    )


async def set_default_bucket(
    conn: AsyncConnection, org: Membership, principal: Principal, bucket_id: str
) -> None:
    row = await bucket_row(conn, org, bucket_id)
    previous = await default_bucket_id(conn, org.org_id)
    await conn.execute(update(orgs).where(orgs.c.id == org.org_id).values(default_bucket_id=bucket_id))
    await record(
        conn,
        "bucket.set_default",
        actor=principal,
        org_id=org.org_id,
        org=org.org_name,
        target=row.nickname,
        details={"bucket_id": bucket_id, "previous_bucket_id": previous},
    )
