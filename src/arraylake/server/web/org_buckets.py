"""Org settings: bucket configs (with the connectivity check) and virtual chunk access policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from arraylake.server.buckets import check, service, virtual_policies
from arraylake.server.buckets.service import repo_names_using
from arraylake.server.deps import OrgName
from arraylake.server.errors import InvalidInput, ServiceError
from arraylake.server.policy import Action
from arraylake.server.web.rendering import is_htmx, redirect_with_message, render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import FormPost, SignedIn, Viewer
from arraylake.types import AuthMethod, BucketCheckReport, NewBucket, Platform, VirtualChunkPolicyRequest

router = pages_router()

PLATFORMS = [Platform.S3, Platform.S3_COMPATIBLE, Platform.MINIO, Platform.GS, Platform.AZURE, Platform.LOCAL]
AUTH_METHODS = [
    (AuthMethod.ANONYMOUS, "Anonymous (public bucket, or local)"),
    (AuthMethod.HMAC, "HMAC keys (access key id and secret)"),
    (AuthMethod.STS_ASSUME_ROLE, "STS AssumeRole with the service's keys"),
    (AuthMethod.AWS_CUSTOMER_MANAGED_ROLE, "AWS role of yours, assumed by the service"),
    (AuthMethod.GCP_CUSTOMER_MANAGED_ROLE, "GCP service account, impersonated by the service"),
    (AuthMethod.AZURE_CREDENTIAL_DELEGATION, "Azure credential delegation"),
]
SHOWN_REPOS = 5
"""How many of the repos that use a bucket config its row names."""
POLICY_PAGE = 100


def _buckets_url(org: str) -> str:
    return f"/app/{org}/-/buckets"


def _policies_url(org: str) -> str:
    return f"/app/{org}/-/virtual-chunks"


def invalid_input(exc: ValidationError) -> InvalidInput:
    """A model's validation errors in the words of the form's fields."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return InvalidInput("; ".join(parts) or "the form is not valid")


@dataclass
class BucketForm:
    """What the create form holds, to show again after a refusal (never the secrets)."""

    nickname: str = ""
    platform: str = Platform.S3.value
    name: str = ""
    prefix: str = ""
    endpoint_url: str = ""
    region_name: str = ""
    allow_http: bool = False
    force_path_style: bool = False
    auth_method: str = AuthMethod.ANONYMOUS.value
    access_key_id: str = ""
    role_arn: str = ""
    external_customer_id: str = ""
    external_role_name: str = ""
    target_service_account: str = ""
    tenant_id: str = ""
    storage_account: str = ""
    writers_only: bool = False
    make_default: bool = False
    check_connectivity: bool = True
    secrets: dict[str, str] = field(default_factory=dict, repr=False)

    def extra_config(self) -> dict[str, str | bool]:
        extra: dict[str, str | bool] = {}
        if self.endpoint_url.strip():
            extra["endpoint_url"] = self.endpoint_url.strip()
        if self.region_name.strip():
            extra["region_name"] = self.region_name.strip()
        if self.allow_http:
            extra["use_ssl"] = False
        if self.force_path_style:
            extra["force_path_style"] = True
        return extra

    def auth_config(self) -> dict[str, Any]:
        """The auth config of the chosen method, from the fields that method takes."""
        method = self.auth_method
        fields: dict[str, Any] = {"method": method}
        secret = self.secrets.get("secret_access_key", "")
        if method == AuthMethod.ANONYMOUS and self.storage_account.strip():
            fields["storage_account"] = self.storage_account.strip()
        elif method == AuthMethod.HMAC:
            fields.update(
                access_key_id=self.access_key_id.strip(),
                secret_access_key=secret,
                writers_only=self.writers_only,
            )
        elif method == AuthMethod.STS_ASSUME_ROLE:
            fields.update(role_arn=self.role_arn.strip(), access_key_id=self.access_key_id.strip())
            fields["secret_access_key"] = secret
            if self.secrets.get("external_id"):
                fields["external_id"] = self.secrets["external_id"]
        elif method == AuthMethod.AWS_CUSTOMER_MANAGED_ROLE:
            fields.update(
                external_customer_id=self.external_customer_id.strip(),
                external_role_name=self.external_role_name.strip(),
            )
        elif method == AuthMethod.GCP_CUSTOMER_MANAGED_ROLE:
            fields["target_service_account"] = self.target_service_account.strip()
        elif method == AuthMethod.AZURE_CREDENTIAL_DELEGATION:
            fields.update(tenant_id=self.tenant_id.strip(), storage_account=self.storage_account.strip())
        return fields

    def new_bucket(self) -> NewBucket:
        """The API's request body; 422 in the words of the form's fields when it does not fit."""
        if not self.nickname.strip():
            raise InvalidInput("nickname: give the bucket config a nickname")
        if self.platform not in {p.value for p in Platform}:
            known = ", ".join(p.value for p in PLATFORMS)
            raise InvalidInput(f"platform: unknown platform {self.platform!r}; choose one of {known}")
        if self.auth_method not in {m.value for m, _label in AUTH_METHODS}:
            known = ", ".join(m.value for m, _label in AUTH_METHODS)
            raise InvalidInput(f"auth method: unknown method {self.auth_method!r}; choose one of {known}")
        try:
            return NewBucket.model_validate(
                {
                    "nickname": self.nickname.strip(),
                    "platform": self.platform,
                    "name": self.name.strip(),
                    "prefix": self.prefix.strip(),
                    "extra_config": self.extra_config(),
                    "auth_config": self.auth_config(),
                }
            )
        except ValidationError as exc:
            raise invalid_input(exc) from exc


async def _buckets_page(
    request: Request,
    viewer: Viewer,
    org: str,
    *,
    status: int = 200,
    form: BucketForm | None = None,
    error: str | None = None,
    report: BucketCheckReport | None = None,
    created: str | None = None,
) -> HTMLResponse:
    """The org's bucket configs, secrets masked whoever looks: a page never shows a secret."""
    call = viewer.in_org(org, Action.READ_BUCKETS)
    async with viewer.ctx.reader.connect() as conn:
        found = await service.list_buckets(conn, viewer.ctx.codec, call.member, reveal_secrets=False)
        users = {str(b.id): await repo_names_using(conn, str(b.id), SHOWN_REPOS) for b in found}
    return render(
        request,
        viewer,
        "app/org_buckets.html",
        status=status,
        title=f"Buckets of {org}",
        org=org,
        section="buckets",
        buckets=found,
        users=users,
        platforms=PLATFORMS,
        auth_methods=AUTH_METHODS,
        form=form or BucketForm(),
        error=error,
        report=report,
        created=created,
        may_manage=viewer.may(org, Action.MANAGE_BUCKETS),
        may_check=viewer.may(org, Action.CREATE_REPO),
    )


async def _check(viewer: Viewer, org: str, bucket_id: str) -> BucketCheckReport:
    """The API's connectivity check, with the write credentials the viewer would receive."""
    call = viewer.in_org(org, Action.CREATE_REPO)
    async with viewer.ctx.reader.connect() as conn:
        row = await service.bucket_row(conn, call.member, bucket_id)
    bucket = viewer.ctx.codec.to_wire(row, default_bucket_id=None, org_name=call.org, internal=True)
    return await check.check_bucket(bucket, viewer.ctx.vendor, principal_id=viewer.principal.id)


@router.get("/app/{org}/-/buckets", response_class=HTMLResponse)
async def buckets_page(request: Request, viewer: SignedIn, org: OrgName) -> HTMLResponse:
    """The org's bucket configs; the forms to add, check, make default and delete for those who may."""
    return await _buckets_page(request, viewer, org)


@router.post("/app/{org}/-/buckets", response_class=HTMLResponse, status_code=201)
async def create_bucket(
    request: Request,
    viewer: FormPost,
    org: OrgName,
    nickname: Annotated[str, Form(max_length=256)] = "",
    platform: Annotated[str, Form(max_length=32)] = Platform.S3.value,
    name: Annotated[str, Form(max_length=256)] = "",
    prefix: Annotated[str, Form(max_length=1024)] = "",
    endpoint_url: Annotated[str, Form(max_length=2048)] = "",
    region_name: Annotated[str, Form(max_length=128)] = "",
    allow_http: Annotated[bool, Form()] = False,
    force_path_style: Annotated[bool, Form()] = False,
    auth_method: Annotated[str, Form(max_length=64)] = AuthMethod.ANONYMOUS.value,
    access_key_id: Annotated[str, Form(max_length=256)] = "",
    secret_access_key: Annotated[str, Form(max_length=1024)] = "",
    role_arn: Annotated[str, Form(max_length=2048)] = "",
    external_id: Annotated[str, Form(max_length=1224)] = "",
    external_customer_id: Annotated[str, Form(max_length=64)] = "",
    external_role_name: Annotated[str, Form(max_length=512)] = "",
    target_service_account: Annotated[str, Form(max_length=256)] = "",
    tenant_id: Annotated[str, Form(max_length=256)] = "",
    storage_account: Annotated[str, Form(max_length=64)] = "",
    writers_only: Annotated[bool, Form()] = False,
    make_default: Annotated[bool, Form()] = False,
    check_connectivity: Annotated[bool, Form()] = False,
) -> Response:
    """Create a bucket config (the bucket itself is not created); then, if asked, check it and show the
    report. A refusal shows the domain's words and the form again, without its secrets."""
    call = viewer.in_org(org, Action.MANAGE_BUCKETS)
    form = BucketForm(
        nickname=nickname,
        platform=platform,
        name=name,
        prefix=prefix,
        endpoint_url=endpoint_url,
        region_name=region_name,
        allow_http=allow_http,
        force_path_style=force_path_style,
        auth_method=auth_method,
        access_key_id=access_key_id,
        role_arn=role_arn,
        external_customer_id=external_customer_id,
        external_role_name=external_role_name,
        target_service_account=target_service_account,
        tenant_id=tenant_id,
        storage_account=storage_account,
        writers_only=writers_only,
        make_default=make_default,
        check_connectivity=check_connectivity,
        secrets={"secret_access_key": secret_access_key, "external_id": external_id},
    )
    try:
        new = form.new_bucket()
        async with viewer.ctx.engine.begin() as conn:
            made = await service.create_bucket(conn, viewer.ctx.codec, call.member, call.principal, new)
            if make_default:
                await service.set_default_bucket(conn, call.member, call.principal, str(made.id))
    except ServiceError as exc:
        form.secrets = {}
        return await _buckets_page(
            request, viewer, org, status=exc.status_code, form=form, error=str(exc.detail)
        )
    text = f"Created bucket config {made.nickname}" + (" (the org's default)." if make_default else ".")
    if not check_connectivity:
        return redirect_with_message(viewer, _buckets_url(org), text)
    report = await _check(viewer, org, str(made.id))
    return await _buckets_page(request, viewer, org, status=201, report=report, created=text)


@router.post("/app/{org}/-/buckets/{bucket_id}/check", response_class=HTMLResponse)
async def check_bucket(request: Request, viewer: FormPost, org: OrgName, bucket_id: UUID) -> HTMLResponse:
    """Try a bucket config: list, write, read, conditional writes and delete on a scratch key."""
    report = await _check(viewer, org, str(bucket_id))
    if is_htmx(request):
        return render(request, viewer, "app/_bucket_check_report.html", report=report)
    return await _buckets_page(request, viewer, org, report=report)


@router.post("/app/{org}/-/buckets/{bucket_id}/default", response_class=RedirectResponse)
async def set_default(viewer: FormPost, org: OrgName, bucket_id: UUID) -> RedirectResponse:
    """Make a bucket config the org's default for new repos."""
    call = viewer.in_org(org, Action.MANAGE_BUCKETS)
    async with viewer.ctx.engine.begin() as conn:
        row = await service.bucket_row(conn, call.member, str(bucket_id))
        await service.set_default_bucket(conn, call.member, call.principal, str(bucket_id))
    text = f"{row.nickname} is now the default bucket config for new repos."
    return redirect_with_message(viewer, _buckets_url(org), text)


@router.post("/app/{org}/-/buckets/{bucket_id}/delete", response_class=RedirectResponse)
async def delete_bucket(
    viewer: FormPost, org: OrgName, bucket_id: UUID, confirm: Annotated[bool, Form()] = False
) -> RedirectResponse:
    """Delete a bucket config, once confirmed; refused while repos use it. The bucket is not touched."""
    call = viewer.in_org(org, Action.MANAGE_BUCKETS)
    if not confirm:
        raise InvalidInput("Tick “I understand” to delete this bucket config.")
    async with viewer.ctx.engine.begin() as conn:
        row = await service.bucket_row(conn, call.member, str(bucket_id))
        await service.delete_bucket(conn, call.member, call.principal, str(bucket_id))
    text = f"Deleted bucket config {row.nickname}; the bucket's contents are untouched."
    return redirect_with_message(viewer, _buckets_url(org), text)


# ------------------------------------------------------------------------- virtual chunk access policies


@router.get("/app/{org}/-/virtual-chunks", response_class=HTMLResponse)
async def policies_page(
    request: Request, viewer: SignedIn, org: OrgName, page: Annotated[int, Query(ge=1)] = 1
) -> HTMLResponse:
    """The buckets (and sub-prefixes) the org's repos may read virtual chunks from."""
    call = viewer.in_org(org, Action.READ_BUCKETS)
    async with viewer.ctx.reader.connect() as conn:
        found = await virtual_policies.list_policies(
            conn, viewer.ctx.codec, call.member, page=page, size=POLICY_PAGE
        )
        configs = await service.list_buckets(conn, viewer.ctx.codec, call.member, reveal_secrets=False)
    return render(
        request,
        viewer,
        "app/org_virtual_chunks.html",
        title=f"Virtual chunks of {org}",
        org=org,
        section="virtual-chunks",
        policies=found,
        buckets=configs,
        nicknames={str(b.id): b.nickname for b in configs},
        may_manage=viewer.may(org, Action.MANAGE_BUCKETS),
    )


def _policy_request(bucket_id: str, subprefix: str, public: bool) -> VirtualChunkPolicyRequest:
    try:
        return VirtualChunkPolicyRequest.model_validate(
            {"bucket_id": bucket_id, "subprefix": subprefix, "public": public}
        )
    except ValidationError as exc:
        raise invalid_input(exc) from exc


@router.post("/app/{org}/-/virtual-chunks", response_class=RedirectResponse)
async def add_policy(
    viewer: FormPost,
    org: OrgName,
    bucket_id: Annotated[str, Form(max_length=64)] = "",
    subprefix: Annotated[str, Form(max_length=1024)] = "",
    public: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """Authorize a bucket config (or a sub-prefix of it) as a source of virtual chunks."""
    call = viewer.in_org(org, Action.MANAGE_BUCKETS)
    asked = _policy_request(bucket_id, subprefix, public)
    async with viewer.ctx.engine.begin() as conn:
        made = await virtual_policies.put_policy(conn, viewer.ctx.codec, call.member, call.principal, asked)
    access = "public (no credentials)" if made.public else "with credentials"
    text = f"Repos of {org} may read virtual chunks under {made.url_prefix} ({access})."
    return redirect_with_message(viewer, _policies_url(org), text)


@router.post("/app/{org}/-/virtual-chunks/delete", response_class=RedirectResponse)
async def delete_policy(
    viewer: FormPost,
    org: OrgName,
    bucket_id: Annotated[str, Form(max_length=64)] = "",
    subprefix: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """Withdraw an authorization, once confirmed: readers no longer get credentials for it."""
    call = viewer.in_org(org, Action.MANAGE_BUCKETS)
    if not confirm:
        raise InvalidInput("Tick “I understand” to withdraw this virtual chunk access policy.")
    asked = _policy_request(bucket_id, subprefix, False)
    async with viewer.ctx.engine.begin() as conn:
        await virtual_policies.delete_policy(conn, call.member, call.principal, asked)
    where = f" (sub-prefix {asked.subprefix})" if asked.subprefix else ""
    text = f"Withdrawn: repos of {org} may no longer read virtual chunks from that bucket config{where}."
    return redirect_with_message(viewer, _policies_url(org), text)
