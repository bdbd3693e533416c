"""Which maintenance policy applies to a repo, and when its window opens.

Each part of a policy (window, expiration, GC) comes from the repo's own ``optimization_config`` if set
there, else from its org's default, else from the service (its ``maintenance_window``; expiration and GC
off). Windows are weekly, in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from arraylake.server.settings import ServerSettings
from arraylake.types.maintenance import (
    DAYS,
    EffectiveMaintenance,
    GCConfig,
    OptimizationConfig,
    OptimizationWindow,
    PolicySource,
    describe_window,
    parse_window,
)

__all__ = [
    "DAYS",
    "describe_window",
    "effective",
    "gc_margin",
    "next_opening",
    "parse_window",
    "window_is_open",
]


def window_opening(window: OptimizationWindow, now: datetime) -> datetime:
    """The start of the latest occurrence of ``window`` at or before ``now``."""
    now = now.astimezone(UTC)
    monday = datetime.combine((now - timedelta(days=now.weekday())).date(), time(), tzinfo=UTC)
    start = (
        monday
        + timedelta(days=window.day_of_week)
        + timedelta(
            hours=window.start_time.hour, minutes=window.start_time.minute, seconds=window.start_time.second
        )
    )
    return start if start <= now else start - timedelta(days=7)


def window_is_open(window: OptimizationWindow, now: datetime) -> bool:
    return now < window_opening(window, now) + window.duration


def next_opening(window: OptimizationWindow, now: datetime) -> datetime:
    """The start of the next occurrence of ``window`` after ``now`` (the current one's if it is open)."""
    opened = window_opening(window, now)
    return opened if window_is_open(window, now) else opened + timedelta(days=7)


def _config(raw: dict[str, Any] | None) -> OptimizationConfig:
    return OptimizationConfig.model_validate(raw) if raw else OptimizationConfig()


def gc_margin(gc: GCConfig | None, settings: ServerSettings) -> timedelta:
    """GC's safety margin: the largest margin the policy gives, else the service's default."""
    margins = gc.margins() if gc is not None else []
    return max(margins) if margins else timedelta(seconds=settings.maintenance_gc_margin_seconds)


def effective(
    repo_config: dict[str, Any] | None,
    org_config: dict[str, Any] | None,
    settings: ServerSettings,
    now: datetime,
) -> EffectiveMaintenance:
    """What applies to a repo, from its own policy and its org's (both as stored: JSON or ``None``)."""
    repo, org = _config(repo_config), _config(org_config)

    def pick(name: str) -> tuple[Any, PolicySource]:
        if getattr(repo, name) is not None:
            return getattr(repo, name), "repo"
        if getattr(org, name) is not None:
            return getattr(org, name), "org"
        return None, "service"

    window, window_source = pick("window")
    if window is None:
        window = parse_window(settings.maintenance_window)
    expiration, expiration_source = pick("expiration_config")
    gc, gc_source = pick("gc_config")
    enabled = (expiration is not None and expiration.enabled) or (gc is not None and gc.enabled)
    return EffectiveMaintenance(
        window=window,
        window_source=window_source,
        expiration=expiration,
        expiration_source=expiration_source,
        gc=gc,
        gc_source=gc_source,
        gc_margin=gc_margin(gc, settings),
        next_window_start=next_opening(window, now) if enabled else None,
    )


def check_policy(config: OptimizationConfig, settings: ServerSettings) -> None:
    """Refuse (ValueError saying why) a policy the service will not apply: a GC margin under its minimum."""
    if config.gc_config is None:
        return
    floor = timedelta(seconds=settings.maintenance_min_gc_margin_seconds)
    for margin in config.gc_config.margins():
        if margin < floor:
            raise ValueError(
                f"a GC safety margin of {margin} is under this service's minimum of {floor}: objects that "
                "writers still in a session need could be deleted"
            )
