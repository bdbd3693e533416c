"""Changing a repo: create, description and metadata, status, delete; each as the policy allows."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Annotated, Any

import yaml
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from arraylake.server.buckets.service import list_buckets
from arraylake.server.deps import OnRepo, OrgName, RepoName
from arraylake.server.errors import InvalidInput, ServiceError
from arraylake.server.logs import get_logger
from arraylake.server.policy import Action
from arraylake.server.repos import creation, deletion, lifecycle
from arraylake.server.repos.cleanup import Cleaner
from arraylake.server.repos.records import get_repo, repo_row
from arraylake.server.web.rendering import redirect_with_message, render, when
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import FormPost, SignedIn, Viewer
from arraylake.types import (
    Repo,
    RepoActions,
    RepoCreateBody,
    RepoMetadata,
    RepoModifyRequest,
    RepoOperationMode,
    RepoOperationStatusUpdate,
    utcnow,
)

router = pages_router()
log = get_logger("arraylake.server.web")
Text = Annotated[str, Form()]
Flag = Annotated[bool, Form()]


# ------------------------------------------------------------------------------------------ form values


def parse_metadata(text: str) -> RepoMetadata | None:
    """Metadata as typed in a form: a JSON object, or ``key=value`` lines whose values are read as YAML
    scalars or lists (``10``, ``true``, ``era5``, ``[a, b]``), as the command line reads them."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("{"):
        try:
            found = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"metadata: invalid JSON ({exc.msg} at line {exc.lineno})") from exc
        if not isinstance(found, dict):
            raise InvalidInput("metadata: a JSON object is needed")
        return found
    pairs: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, raw = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidInput(f"metadata line {number}: expected key=value, got {line.strip()[:80]!r}")
        if key in pairs:
            raise InvalidInput(f"metadata line {number}: key {key!r} is given twice")
        raw = raw.strip()
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, dict):
            raise InvalidInput(f"metadata line {number}: the value of {key!r} must be a scalar or a list")
        pairs[key] = "" if value is None and raw in ("", "~") else value
    return pairs or None


def metadata_lines(metadata: RepoMetadata | None) -> str:
    """Metadata as ``key=value`` lines that :func:`parse_metadata` reads back to the same values."""
    lines = []
    for key, value in (metadata or {}).items():
        shown = json.dumps(value)
        if isinstance(value, str) and value == value.strip() and value:
            try:
                plain = yaml.safe_load(value) == value
            except yaml.YAMLError:
                plain = False
            shown = value if plain else shown
        lines.append(f"{key}={shown}")
    return "\n".join(lines)


def checked[Model: BaseModel](model: type[Model], **values: Any) -> Model:
    """A request model from form values; its validation errors as a 422 in plain words."""
    try:
        return model(**values)
    except ValidationError as exc:
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ())) or "input"
            parts.append(f"{where}: {str(error.get('msg', 'invalid')).removeprefix('Value error, ')}")
        raise InvalidInput("; ".join(parts)) from exc


def metadata_changes(current: RepoMetadata | None, wanted: RepoMetadata | None) -> dict[str, Any]:
    """The ``add/update/remove_metadata`` of a :class:`RepoModifyRequest` from the full set wanted."""
    current, wanted = current or {}, wanted or {}
    added = {k: v for k, v in wanted.items() if k not in current}
    updated = {k: v for k, v in wanted.items() if k in current and current[k] != v}
    removed = [k for k in current if k not in wanted]
    return {
        "add_metadata": added or None,
        "update_metadata": updated or None,
        "remove_metadata": removed or None,
    }


# -------------------------------------------------------------------------------------------- new repo


async def _new_repo_page(
    request: Request, viewer: Viewer, org: str, *, status: int = 200, error: str | None = None, **values: Any
) -> HTMLResponse:
    call = viewer.in_org(org, Action.CREATE_REPO)
    async with viewer.ctx.reader.connect() as conn:
        bucket_configs = await list_buckets(conn, viewer.ctx.codec, call.member)
    bucket_configs.sort(key=lambda b: (not b.is_default, b.nickname.lower()))
    return render(
        request,
        viewer,
        "app/repo_new.html",
        status=status,
        org=org,
        section="catalog",
        title=f"New repo in {org}",
        buckets=bucket_configs,
        error=error,
        values={"name": "", "description": "", "bucket": "", "metadata": "", **values},
    )


@router.get("/app/{org}/-/new", response_class=HTMLResponse)
async def new_repo_page(request: Request, org: OrgName, viewer: SignedIn) -> HTMLResponse:
    """The form that creates an Icechunk repo."""
    return await _new_repo_page(request, viewer, org)


@router.post("/app/{org}/-/new", response_model=None)
async def create_repo(
    request: Request,
    org: OrgName,
    viewer: FormPost,
    name: Text = "",
    description: Text = "",
    bucket: Text = "",
    metadata: Text = "",
) -> Response:
    """Create the repo (catalog entry and Icechunk repository), then show it; the form again on bad input."""
    call = viewer.in_org(org, Action.CREATE_REPO)
    values = {"name": name, "description": description, "bucket": bucket, "metadata": metadata}
    try:
        body = checked(
            RepoCreateBody,
            name=name.strip(),
            description=description.strip() or None,
            bucket_nickname=bucket.strip() or None,
            metadata=parse_metadata(metadata),
        )
        repo = await creation.create_icechunk_repo(call, body)
    except ServiceError as exc:
        if exc.status_code not in (409, 422):
            raise
        return await _new_repo_page(
            request, viewer, org, status=exc.status_code, error=str(exc.detail), **values
        )
    return redirect_with_message(viewer, f"/app/{org}/{repo.name}", f"Created repo {repo.full_name}.")


# ---------------------------------------------------------------------------------------- repo settings


def _settings_viewer(viewer: Viewer, org: str, repo: str) -> OnRepo:
    """The viewer on the repo if it may change something there (write or manage); else the policy's 403."""
    on = viewer.on_repo(org, repo)
    if RepoActions.CAN_WRITE in on.actions or RepoActions.CAN_MANAGE_USERS in on.actions:
        return on
    return viewer.on_repo(org, repo, RepoActions.CAN_WRITE)  # refuses, in the policy's words


@router.get("/app/{org}/{repo}/settings", response_class=HTMLResponse)
async def settings_page(request: Request, org: OrgName, repo: RepoName, viewer: SignedIn) -> HTMLResponse:
    """Description and metadata, status, and delete: each form for those who may use it."""
    on = _settings_viewer(viewer, org, repo)
    async with viewer.ctx.reader.connect() as conn:
        found: Repo = await get_repo(conn, viewer.ctx.codec, on.scope, repo)
    grace = viewer.ctx.settings.deletion_grace_seconds
    return render(
        request,
        viewer,
        "app/repo_settings.html",
        org=org,
        repo=repo,
        section="catalog",
        title=f"Settings of {org}/{repo}",
        info=found,
        metadata_text=metadata_lines(found.metadata),
        may_write=RepoActions.CAN_WRITE in on.actions,
        may_manage=RepoActions.CAN_MANAGE_USERS in on.actions,
        purge_on=when(utcnow() + timedelta(seconds=grace)),
        modes=[m.value for m in RepoOperationMode],
    )


@router.post("/app/{org}/{repo}/settings", response_model=None)
async def modify_repo(
    org: OrgName,
    repo: RepoName,
    viewer: FormPost,
    description: Text = "",
    metadata: Text = "",
) -> RedirectResponse:
    """Set the description and the full set of metadata keys (added, changed and removed as needed)."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_WRITE)
    wanted = parse_metadata(metadata)
    async with viewer.ctx.engine.begin() as conn:
        row = await repo_row(conn, on.scope, repo)
        change = checked(
            RepoModifyRequest, description=description.strip(), **metadata_changes(row.metadata, wanted)
        )
        await lifecycle.modify_repo(conn, viewer.ctx.codec, on.scope, repo, change)
    return redirect_with_message(viewer, f"/app/{org}/{repo}/settings", "Saved the description and metadata.")


@router.post("/app/{org}/{repo}/status", response_model=None)
async def set_status(
    org: OrgName, repo: RepoName, viewer: FormPost, mode: Text = "", message: Text = ""
) -> RedirectResponse:
    """Put the repo online, in maintenance (read-only) or offline, with a message for its users."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_WRITE)
    change = checked(RepoOperationStatusUpdate, mode=mode, message=message.strip() or None)
    async with viewer.ctx.engine.begin() as conn:
        await lifecycle.set_status(conn, on.scope, on.principal, repo, change)
    return redirect_with_message(
        viewer, f"/app/{org}/{repo}/settings", f"Repo {org}/{repo} is now {change.mode.value}."
    )


@router.post("/app/{org}/{repo}/delete", response_model=None)
async def delete_repo(
    org: OrgName,
    repo: RepoName,
    viewer: FormPost,
    confirm: Text = "",
    retain_data: Flag = False,
    immediate: Flag = False,
) -> RedirectResponse:
    """Delete the repo once its name is typed: restorable for the grace period unless ``immediate``."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_MANAGE_USERS)
    ctx = viewer.ctx
    if confirm.strip() != repo:
        raise InvalidInput(
            f"to delete repo {org}/{repo}, type its name ({repo}) in the confirmation box; "
            "nothing was deleted"
        )
    grace = ctx.settings.deletion_grace_seconds
    async with ctx.engine.begin() as conn:
        await repo_row(conn, on.scope, repo)  # 404 for a repo that is not there (a ghost is no repo here)
        repo_id = await deletion.delete_repo(
            conn,
            on.scope,
            on.principal,
            repo,
            immediate=immediate,
            retain_data=retain_data,
            grace_seconds=grace,
        )
    kept = " Its data stays in the bucket." if retain_data else ""
    if not immediate:
        until = when(utcnow() + timedelta(seconds=grace))
        text = f"Deleted repo {org}/{repo}. It can be restored from Deleted repos until {until}.{kept}"
    elif repo_id is None:
        text = f"Deleted repo {org}/{repo}.{kept}"
    else:
        text = await _purge(viewer, repo_id, f"{org}/{repo}")
    return redirect_with_message(viewer, f"/app/{org}", text)


async def _purge(viewer: Viewer, repo_id: str, full: str) -> str:
    """Remove a deleted repo's data, waiting as long as the API's DELETE does; the flash says how it went."""
    ctx = viewer.ctx
    purge = ctx.spawn(Cleaner(ctx.engine, ctx.codec, ctx.vendor).purge(repo_id))
    try:
        await asyncio.wait_for(asyncio.shield(purge), timeout=ctx.settings.inline_delete_seconds)
    except TimeoutError:
        return f"Deleted repo {full}; its data is being removed."
    except Exception as exc:
        log.warning("repo data removal failed; the janitor will retry", repo_id=repo_id, error=str(exc))
        return f"Deleted repo {full}; removing its data failed and will be retried."
    return f"Deleted repo {full} and its data."
