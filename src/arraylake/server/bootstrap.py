"""Operator tasks behind ``arraylake server init`` and ``arraylake server migrate``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from arraylake.server.audit.record import SERVICE_ACTOR, record
from arraylake.server.buckets.service import BucketCodec, create_bucket, set_default_bucket
from arraylake.server.db.engine import make_engine
from arraylake.server.db.migrate import CatalogNotReady, check_schema, pending_revisions, upgrade
from arraylake.server.errors import NotFound
from arraylake.server.identity.principals import Membership, Principal, PrincipalKind
from arraylake.server.identity.service import create_user, issue_token
from arraylake.server.identity.signing import TokenSigner, write_signing_key_file
from arraylake.server.orgs.api_clients import create_api_client
from arraylake.server.orgs.members import add_membership
from arraylake.server.orgs.service import create_org, org_id_by_name
from arraylake.server.private_files import private_dir
from arraylake.server.sealing import SecretBox, write_key_file
from arraylake.server.settings import ServerSettings
from arraylake.types import NewBucket, OrgRole, Platform

LOCAL_BUCKET_NICKNAME = "local"


@dataclass
class InitResult:
    org: str
    admin_id: str
    token: str
    local_bucket_path: str | None


def prepare_data_dir(settings: ServerSettings) -> None:
    """Create the data directory and, unless a key is configured, the key file that seals secrets."""
    private_dir(settings.data_dir)
    private_dir(settings.storage_root)
    if settings.secret_key is None:
        write_key_file(settings.secret_key_file)
    if settings.signing_key is None:
        write_signing_key_file(settings.signing_key_file)


async def preflight(settings: ServerSettings) -> None:
    """Check what the service needs before it starts: an up-to-date catalog and its keys."""
    if (
        settings.is_sqlite
        and settings.database_url is None
        and not (settings.data_dir / "catalog.db").exists()
    ):
        raise CatalogNotReady(f"no catalog in {settings.data_dir}: run `arraylake server init` first")
    engine = make_engine(settings.resolved_database_url)
    try:
        await check_schema(engine)
    except (OSError, SQLAlchemyError) as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise CatalogNotReady(f"cannot reach the catalog database at {where}: {type(exc).__name__}") from exc
    finally:
        await engine.dispose()
    SecretBox.from_settings(settings)
    TokenSigner.from_settings(settings)


async def migrate(
    settings: ServerSettings,
    on_pending: Callable[[list[str]], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> list[str]:
    """Bring the catalog schema up to date; returns the revisions applied, oldest first.

    ``on_pending`` hears the revisions about to be applied, ``on_step`` each one as it lands (progress bars).
    """
    prepare_data_dir(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        pending = await pending_revisions(engine)
        if on_pending is not None:
            on_pending(pending)
        await upgrade(engine, on_step=on_step)
        return pending
    finally:
        await engine.dispose()


async def init_org(settings: ServerSettings, org: str, *, local_bucket: bool, admin_email: str) -> InitResult:
    """Create the catalog if needed, then the org, its admin API client and token, and its local bucket."""
    await migrate(settings)
    secrets = SecretBox.from_settings(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        async with engine.begin() as conn:
            org_id = await create_org(conn, org)
            admin_id = await create_api_client(
                conn, org_id=org_id, name=f"{org} admin", email=admin_email, role=OrgRole.ADMIN
            )
            path = None
            if local_bucket:
                member = Membership(org_id=org_id, org_name=org, role=OrgRole.ADMIN)
                admin = Principal(
                    id=admin_id, kind=PrincipalKind.API_CLIENT, email=admin_email, display_name="admin"
                )
                codec = BucketCodec(settings, secrets)
                bucket = await create_bucket(
                    conn,
                    codec,
                    member,
                    admin,
                    NewBucket(
                        nickname=LOCAL_BUCKET_NICKNAME, platform=Platform.LOCAL, name=LOCAL_BUCKET_NICKNAME
                    ),
                )
                await set_default_bucket(conn, member, admin, str(bucket.id))
                path = str(codec.local_path(org, LOCAL_BUCKET_NICKNAME))
            label = "created by server init"
            token_id, token = await issue_token(conn, admin_id, name=label)
            via = {"via": "server init"}
            for action, target, details in (
                ("org.create", org, {"display_name": org}),
                ("api_client.create", admin_id, {"name": f"{org} admin", "role": OrgRole.ADMIN.value}),
                ("token.create", token_id, {"name": label, "client_id": admin_id, "expires_at": None}),
            ):
                await record(
                    conn,
                    action,
                    actor_name=SERVICE_ACTOR,
                    org_id=org_id,
                    org=org,
                    target=target,
                    details={**details, **via},
                )
    finally:
        await engine.dispose()
    return InitResult(org=org, admin_id=admin_id, token=token, local_bucket_path=path)


async def create_user_account(
    settings: ServerSettings,
    *,
    email: str,
    password: str,
    first_name: str | None,
    family_name: str | None,
    org: str | None,
    role: OrgRole,
) -> str:
    """Create a user who signs in with a password; optionally make them a member of an org."""
    await migrate(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        async with engine.begin() as conn:
            user_id = await create_user(
                conn, email=email, password=password, first_name=first_name, family_name=family_name
            )
            if org is not None:
                org_id = await org_id_by_name(conn, org)
                if org_id is None:
                    raise NotFound(f"org {org} not found")
                await add_membership(conn, org_id, user_id, role)
                await record(
                    conn,
                    "member.add",
                    actor_name=SERVICE_ACTOR,
                    org_id=org_id,
                    org=org,
                    target=email.strip(),
                    details={"principal_id": user_id, "role": role.value, "via": "server user create"},
                )
    finally:
        await engine.dispose()
    return user_id
