"""A repo's maintenance: the policy that applies and where each part comes from, the form that sets the
repo's own, runs asked for now, and the history of runs with each one's report."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Annotated, Any

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from arraylake.server.deps import OrgName, RepoName
from arraylake.server.errors import InvalidInput, NotFound
from arraylake.server.maintenance import runs
from arraylake.server.maintenance import settings as maintenance
from arraylake.server.maintenance.policy import DAYS, parse_window
from arraylake.server.repos.records import repo_row
from arraylake.server.web.rendering import redirect_with_message, render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import FormPost, SignedIn
from arraylake.types import RepoActions
from arraylake.types.maintenance import (
    ExpirationConfig,
    GCConfig,
    OptimizationConfig,
    OptimizationWindow,
)

router = pages_router()
Text = Annotated[str, Form()]
Flag = Annotated[bool, Form()]

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
RUNS_PER_PAGE = 20
_ROOT_SEPARATORS = re.compile(r"[\s,]+")
_MARGIN_UNITS = {"hours": 3600, "days": 86400}


# ------------------------------------------------------------------------------------------ how it reads


def duration_text(span: timedelta | None) -> str:
    """A duration in the largest whole unit: ``30 days``, ``6 hours``, ``90 minutes``."""
    if span is None:
        return "—"
    seconds = int(span.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def window_text(window: OptimizationWindow) -> str:
    """``Sundays at 02:00 UTC, for 6 hours``."""
    start = window.start_time.strftime("%H:%M")
    return f"{DAY_NAMES[window.day_of_week]}s at {start} UTC, for {duration_text(window.duration)}"


def _short_duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


# ------------------------------------------------------------------------------------------ the form


@dataclass(frozen=True)
class PolicyForm:
    """The policy form as posted: for each part, whether it is set here (else inherited) and its values."""

    window_own: bool = False
    window_day: str = ""
    window_start: str = ""
    window_duration: str = ""
    expiration_own: bool = False
    expiration_enabled: bool = False
    expire_days: str = ""
    gc_own: bool = False
    gc_enabled: bool = False
    gc_margin: str = ""
    gc_margin_unit: str = "days"
    extra_roots: str = ""


def policy_form(
    window_own: Flag = False,
    window_day: Text = "",
    window_start: Text = "",
    window_duration: Text = "",
    expiration_own: Flag = False,
    expiration_enabled: Flag = False,
    expire_days: Text = "",
    gc_own: Flag = False,
    gc_enabled: Flag = False,
    gc_margin: Text = "",
    gc_margin_unit: Text = "days",
    extra_roots: Text = "",
) -> PolicyForm:
    return PolicyForm(
        window_own,
        window_day,
        window_start,
        window_duration,
        expiration_own,
        expiration_enabled,
        expire_days,
        gc_own,
        gc_enabled,
        gc_margin,
        gc_margin_unit,
        extra_roots,
    )


PostedPolicy = Annotated[PolicyForm, Depends(policy_form)]


def _number(text: str, what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise InvalidInput(f"{what}: {text.strip()[:40]!r} is not a number") from None
    if value <= 0 or value != value:
        raise InvalidInput(f"{what}: give a number above zero")
    return value


def _window(form: PolicyForm) -> OptimizationWindow:
    if form.window_day not in {str(day) for day in range(7)}:
        raise InvalidInput("window day: choose a day of the week")
    try:
        start = time.fromisoformat(form.window_start.strip())
    except ValueError:
        shown = form.window_start.strip()[:20]
        raise InvalidInput(f"window start: {shown!r} is not a time (HH:MM, UTC)") from None
    text = f"{DAYS[int(form.window_day)]} {start.strftime('%H:%M')} {form.window_duration.strip()}"
    try:
        return parse_window(text)
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"window duration: {message}") from None
    except ValueError:
        raise InvalidInput("window duration: give minutes, hours or days, e.g. 90m, 6h or 1d") from None


def _roots(text: str) -> set[str]:
    return {root for root in _ROOT_SEPARATORS.split(text.strip()) if root}


def policy_from_form(form: PolicyForm, current: OptimizationConfig) -> OptimizationConfig:
    """The policy a form asks for: parts not set here are ``None`` (inherited); what the form does not show
    (how often expiration and GC may run) keeps its current value. Bad input: 422 naming the field."""
    window = _window(form) if form.window_own else None
    expiration = None
    if form.expiration_own:
        days = _number(form.expire_days, "expire snapshots older than (days)")
        every = current.expiration_config.expire_every if current.expiration_config else None
        expiration = ExpirationConfig(
            expire_versions_older_than=timedelta(days=days),
            expire_every=every,
            enabled=form.expiration_enabled,
        )
    gc = None
    if form.gc_own:
        unit = _MARGIN_UNITS.get(form.gc_margin_unit)
        if unit is None:
            raise InvalidInput("GC safety margin: the unit is hours or days")
        margin = timedelta(seconds=_number(form.gc_margin, "GC safety margin") * unit)
        every = current.gc_config.gc_every if current.gc_config else None
        try:
            gc = GCConfig(
                extra_gc_roots=_roots(form.extra_roots),
                dangling_chunks=margin,
                dangling_manifests=margin,
                dangling_attributes=margin,
                dangling_transaction_logs=margin,
                dangling_snapshots=margin,
                gc_every=every,
                enabled=form.gc_enabled,
            )
        except ValidationError as exc:
            message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            raise InvalidInput(f"extra roots: {message}") from None
    return OptimizationConfig(window=window, gc_config=gc, expiration_config=expiration)


def form_values(own: OptimizationConfig, effective: OptimizationConfig) -> dict[str, object]:
    """What the form shows: the values set here, else those that apply now (so setting a part starts from
    what is inherited)."""
    window = own.window or effective.window
    expiration = own.expiration_config or effective.expiration_config
    gc = own.gc_config or effective.gc_config
    margins = gc.margins() if gc else []
    margin = max(margins) if margins else None
    in_days = margin is not None and margin.total_seconds() % 86400 == 0
    return {
        "window_own": own.window is not None,
        "window_day": window.day_of_week if window else 6,
        "window_start": window.start_time.strftime("%H:%M") if window else "02:00",
        "window_duration": _short_duration(window.duration) if window else "6h",
        "expiration_own": own.expiration_config is not None,
        "expiration_enabled": bool(expiration and expiration.enabled),
        "expire_days": _plain(expiration.expire_versions_older_than.total_seconds() / 86400)
        if expiration
        else "30",
        "gc_own": own.gc_config is not None,
        "gc_enabled": bool(gc and gc.enabled),
        "gc_margin": _plain(margin.total_seconds() / (86400 if in_days else 3600)) if margin else "1",
        "gc_margin_unit": "days" if in_days or margin is None else "hours",
        "extra_roots": "\n".join(sorted(gc.extra_gc_roots)) if gc else "",
    }


def _plain(number: float) -> str:
    return str(int(number)) if number == int(number) else f"{number:g}"


def form_context() -> dict[str, Any]:
    return {"days": list(enumerate(DAY_NAMES)), "window_text": window_text, "duration_text": duration_text}


# ------------------------------------------------------------------------------------------ pages


def _url(org: str, repo: str) -> str:
    return f"/app/{org}/{repo}/maintenance"


@router.get("/app/{org}/{repo}/maintenance", response_class=HTMLResponse)
async def maintenance_page(
    request: Request,
    org: OrgName,
    repo: RepoName,
    viewer: SignedIn,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """What maintenance does for the repo and when; the policy form for its managers; the runs, newest
    first."""
    on = viewer.on_repo(org, repo)
    ctx = viewer.ctx
    async with ctx.reader.connect() as conn:
        state = await maintenance.repo_maintenance(conn, ctx.settings, on.scope, repo)
        row = await repo_row(conn, on.scope, repo)
        page = await runs.list_runs(conn, row.id, org, repo, limit=RUNS_PER_PAGE, cursor=cursor or None)
        org_default = await maintenance.org_policy(conn, ctx.settings, on.scope)
    applied = OptimizationConfig(
        window=state.effective.window,
        expiration_config=state.effective.expiration,
        gc_config=state.effective.gc,
    )
    return render(
        request,
        viewer,
        "app/repo_maintenance.html",
        org=org,
        repo=repo,
        section="catalog",
        title=f"Maintenance of {org}/{repo}",
        state=state,
        org_default=org_default,
        runs=page,
        first_page=not cursor,
        values=form_values(state.config, applied),
        may_change=RepoActions.CAN_WRITE in on.actions or RepoActions.CAN_MANAGE_USERS in on.actions,
        may_write=RepoActions.CAN_WRITE in on.actions,
        may_manage=RepoActions.CAN_MANAGE_USERS in on.actions,
        own_label="Set for this repo (otherwise the org's default applies)",
        action=_url(org, repo),
        **form_context(),
    )


@router.post("/app/{org}/{repo}/maintenance", response_model=None)
async def set_policy(org: OrgName, repo: RepoName, viewer: FormPost, form: PostedPolicy) -> RedirectResponse:
    """Set the repo's own policy (each part left unset falls back to the org's default)."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_MANAGE_USERS)
    ctx = viewer.ctx
    async with ctx.engine.begin() as conn:
        current = await maintenance.repo_maintenance(conn, ctx.settings, on.scope, repo)
        config = policy_from_form(form, current.config)
        await maintenance.set_repo_policy(conn, ctx.settings, on.scope, repo, config, on.principal)
    return redirect_with_message(viewer, _url(org, repo), f"Saved the maintenance policy of {org}/{repo}.")


@router.post("/app/{org}/{repo}/maintenance/reset", response_model=None)
async def reset_policy(org: OrgName, repo: RepoName, viewer: FormPost) -> RedirectResponse:
    """Drop the repo's own policy: the org's default applies to every part."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_MANAGE_USERS)
    ctx = viewer.ctx
    async with ctx.engine.begin() as conn:
        await maintenance.set_repo_policy(
            conn, ctx.settings, on.scope, repo, OptimizationConfig(), on.principal
        )
    return redirect_with_message(
        viewer, _url(org, repo), f"{org}/{repo} now follows the org default for every part."
    )


async def _request(org: str, repo: str, viewer: FormPost, *, dry_run: bool) -> RedirectResponse:
    needed = RepoActions.CAN_WRITE if dry_run else RepoActions.CAN_MANAGE_USERS
    on = viewer.on_repo(org, repo, needed)
    ctx = viewer.ctx
    async with ctx.engine.begin() as conn:
        run = await maintenance.request_repo_run(
            conn, ctx.settings, on.scope, repo, dry_run=dry_run, principal=on.principal
        )
    what = "A dry run (nothing is deleted)" if dry_run else "A maintenance run"
    return redirect_with_message(
        viewer,
        _url(org, repo),
        f"{what} of {org}/{repo} is queued; its result shows below when it ends. ({run.id})",
    )


@router.post("/app/{org}/{repo}/maintenance/dry-run", response_model=None)
async def request_dry_run(org: OrgName, repo: RepoName, viewer: FormPost) -> RedirectResponse:
    """Queue a dry run: what the policy would expire and reclaim, deleting nothing (writers)."""
    return await _request(org, repo, viewer, dry_run=True)


@router.post("/app/{org}/{repo}/maintenance/run", response_model=None)
async def request_run(org: OrgName, repo: RepoName, viewer: FormPost) -> RedirectResponse:
    """Queue a run now, outside the window (managers: expiration removes history for good)."""
    return await _request(org, repo, viewer, dry_run=False)


@router.get("/app/{org}/{repo}/maintenance/runs/{run_id}", response_class=HTMLResponse)
async def run_page(
    request: Request, org: OrgName, repo: RepoName, run_id: str, viewer: SignedIn
) -> HTMLResponse:
    """One run: when, how it ended, and its report per branch and tag."""
    on = viewer.on_repo(org, repo)
    async with viewer.ctx.reader.connect() as conn:
        row = await repo_row(conn, on.scope, repo)
        found = await runs.get_run(conn, row.id, run_id) if len(run_id) <= 64 else None
    if found is None:
        raise NotFound(f"no maintenance run {run_id[:64]} of {org}/{repo}")
    return render(
        request,
        viewer,
        "app/repo_maintenance_run.html",
        org=org,
        repo=repo,
        section="catalog",
        title=f"Maintenance run of {org}/{repo}",
        run=runs.to_wire(found, org, repo),
        may_change=RepoActions.CAN_WRITE in on.actions or RepoActions.CAN_MANAGE_USERS in on.actions,
    )
