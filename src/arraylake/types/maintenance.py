"""Repo maintenance: the policy (the hosted dialect's ``optimization_config``), its runs and what they report.

A policy says when the service may work on a repo (a weekly :class:`OptimizationWindow`, in UTC), whether it
expires old snapshots (:class:`ExpirationConfig`) and whether it collects the garbage that expiration and
abandoned writes leave (:class:`GCConfig`). Durations travel as seconds, as the hosted service sends them.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, field_validator

from arraylake.types.common import RequestBody, UtcDatetime, WireModel

SNAPSHOT_ID = re.compile(r"[0-9A-Z]{20}")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"(?P<day>[a-z]{3})[a-z]*\s+(?P<hh>\d{1,2}):(?P<mm>\d{2})\s+(?P<duration>\S+)")
_DURATION = re.compile(r"(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d|w)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _as_timedelta(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    return value


Seconds = Annotated[
    timedelta,
    BeforeValidator(_as_timedelta),
    PlainSerializer(lambda value: value.total_seconds(), return_type=float),
]
"""A duration: a number of seconds on the wire (an ISO 8601 duration is accepted too)."""


def _optional_seconds(value: Any) -> Any:
    return None if value is None else _as_timedelta(value)


OptionalSeconds = Annotated[
    timedelta | None,
    BeforeValidator(_optional_seconds),
    PlainSerializer(lambda value: None if value is None else value.total_seconds(), return_type=float | None),
]


class OptimizationWindow(WireModel):
    """The weekly time the service may run maintenance on a repo: ``day_of_week`` (0 = Monday), ``start_time``
    (UTC) and ``duration`` (at most a week)."""

    duration: Seconds
    start_time: time
    day_of_week: int = Field(ge=0, le=6)

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=1) <= value <= timedelta(days=7):
            raise ValueError("a maintenance window lasts from one minute to seven days")
        return value

    @field_validator("start_time")
    @classmethod
    def _naive_utc(cls, value: time) -> time:
        return value.replace(tzinfo=None)


class GCConfig(WireModel):
    """Garbage collection: delete objects no branch or tag reaches any more (chunks, manifests, snapshots,
    transaction logs) once they are older than a safety margin.

    The hosted dialect gives a margin per kind of object (``dangling_*``, ``None``: keep that kind). Icechunk
    collects every kind in one pass with one margin: the service uses the largest margin given (the safest),
    or ``DEFAULT_GC_MARGIN`` when none is. ``extra_gc_roots``: snapshot ids kept (with their history) as if a
    branch pointed at them. ``gc_every``: at most this often (``None``: once per window).
    """

    extra_gc_roots: set[str] = Field(default_factory=set)
    dangling_chunks: OptionalSeconds = None
    dangling_manifests: OptionalSeconds = None
    dangling_attributes: OptionalSeconds = None
    dangling_transaction_logs: OptionalSeconds = None
    dangling_snapshots: OptionalSeconds = None
    gc_every: OptionalSeconds = None
    enabled: bool = False

    @field_validator("extra_gc_roots")
    @classmethod
    def _roots(cls, value: set[str]) -> set[str]:
        for root in value:
            if not SNAPSHOT_ID.fullmatch(root):
                raise ValueError(f"{root!r} is not an Icechunk snapshot id (20 characters, A-Z and 0-9)")
        if len(value) > 100:
            raise ValueError("at most 100 extra roots")
        return value

    def margins(self) -> list[timedelta]:
        """The margins given, kind by kind."""
        given = (
            self.dangling_chunks,
            self.dangling_manifests,
            self.dangling_attributes,
            self.dangling_transaction_logs,
            self.dangling_snapshots,
        )
        return [margin for margin in given if margin is not None]


class ExpirationConfig(WireModel):
    """Expiration: snapshots older than ``expire_versions_older_than`` leave the history; every branch tip
    and tag stays (and the repo's first snapshot). ``expire_every``: at most this often (``None``: once per
    window)."""

    expire_versions_older_than: Seconds
    expire_every: OptionalSeconds = None
    enabled: bool = False


class OptimizationConfig(RequestBody):
    """A repo's (or an org's default) maintenance policy; ``None`` parts fall back to the org's default,
    then to the service's."""

    window: OptimizationWindow | None = None
    gc_config: GCConfig | None = None
    expiration_config: ExpirationConfig | None = None


PolicySource = Literal["repo", "org", "service"]


class EffectiveMaintenance(WireModel):
    """What the service will do for a repo: each part of its policy, resolved, and where it came from."""

    window: OptimizationWindow
    window_source: PolicySource
    expiration: ExpirationConfig | None
    expiration_source: PolicySource
    gc: GCConfig | None
    gc_source: PolicySource
    gc_margin: Seconds
    """The safety margin GC applies: objects younger than this are never deleted."""
    next_window_start: UtcDatetime | None
    """When the next window opens (``None`` when nothing is enabled)."""


RunState = Literal["queued", "running", "succeeded", "failed"]
RunTrigger = Literal["scheduled", "requested"]


class ExpiredSnapshot(WireModel):
    id: str
    written_at: UtcDatetime
    message: str


class RefExpiration(WireModel):
    """For one branch or tag: the snapshots of its history that expiration removes (or would)."""

    ref: str
    kind: Literal["branch", "tag"]
    tip: str
    expired: list[ExpiredSnapshot]
    kept: int
    """How many snapshots of its history stay."""


class Reclaimed(WireModel):
    """Objects and bytes garbage collection deletes (or would)."""

    chunks: int = 0
    manifests: int = 0
    snapshots: int = 0
    transaction_logs: int = 0
    attributes: int = 0
    bytes: int = 0
    failed_deletes: int = 0

    @property
    def objects(self) -> int:
        return self.chunks + self.manifests + self.snapshots + self.transaction_logs + self.attributes


class MaintenanceReport(WireModel):
    """What a run did, or with ``dry_run`` what it would do, deleting nothing."""

    dry_run: bool
    expire_before: UtcDatetime | None = None
    """Snapshots written before this leave the history (``None``: expiration not run)."""
    refs: list[RefExpiration] = Field(default_factory=list)
    expired_snapshots: int = 0
    gc_before: UtcDatetime | None = None
    """Unreachable objects written before this are deleted (``None``: GC not run)."""
    reclaimed: Reclaimed | None = None
    reclaimable_after_expiration: Reclaimed | None = None
    """Dry runs only: the manifests (and their bytes) that only the snapshots to expire reach; their chunks
    are counted once expiration has run, by the next run's GC."""
    size_bytes: int | None = None
    """Chunk bytes reachable from branches and tags after the run."""
    skipped: list[str] = Field(default_factory=list)
    """Parts of the policy not run this time, and why."""


class MaintenanceRun(WireModel):
    """One maintenance run of a repo: when, what, and how it ended."""

    id: str
    org: str
    repo: str
    trigger: RunTrigger
    dry_run: bool
    state: RunState
    phase: str | None = None
    requested_by: str | None = None
    requested_at: UtcDatetime
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    estimated_end: UtcDatetime | None = None
    attempts: int = 0
    report: MaintenanceReport | None = None
    error: str | None = None


class MaintenanceRunPage(WireModel):
    items: list[MaintenanceRun]
    next_cursor: str | None = None


class MaintenanceRunRequest(RequestBody):
    """Body of ``POST /orgs/{org}/{repo}/maintenance/runs``: run now, outside the window."""

    dry_run: bool = False


class RepoMaintenance(WireModel):
    """``GET /orgs/{org}/{repo}/maintenance``: the repo's own policy, what applies, and the latest run."""

    org: str
    repo: str
    config: OptimizationConfig
    """The repo's own policy (parts left ``None`` come from the org or the service)."""
    effective: EffectiveMaintenance
    last_run: MaintenanceRun | None = None
    size_bytes: int | None = None
    size_measured_at: UtcDatetime | None = None


# ----------------------------------------------------------------- durations and windows as people write them


def parse_duration(text: str) -> timedelta:
    """``'30d'``, ``'12h'``, ``'90m'``, ``'2w'``, ``'45s'`` or combinations (``'1d12h'``) → a duration."""
    compact = text.strip().lower().replace(" ", "")
    parts = list(_DURATION.finditer(compact))
    if not compact or "".join(p.group(0) for p in parts) != compact:
        raise ValueError(f"{text!r} is not a duration: give e.g. 30d, 12h, 90m (units s, m, h, d, w)")
    return timedelta(seconds=sum(float(p["n"]) * _UNITS[p["unit"]] for p in parts))


def describe_duration(value: timedelta) -> str:
    """A duration the way :func:`parse_duration` reads it: ``'30d'``, ``'1d12h'``, ``'90s'``."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


def parse_window(text: str) -> OptimizationWindow:
    """``'sun 02:00 6h'`` → a weekly window: day, start (UTC) and duration."""
    match = _WINDOW.fullmatch(text.strip().lower())
    if match is None or match["day"] not in DAYS:
        raise ValueError(f"{text!r} is not a window: give 'DAY HH:MM DURATION' in UTC, e.g. 'sun 02:00 6h'")
    hours, minutes = int(match["hh"]), int(match["mm"])
    if hours > 23 or minutes > 59:
        raise ValueError(f"{text!r}: {match['hh']}:{match['mm']} is not a time of day")
    return OptimizationWindow(
        duration=parse_duration(match["duration"]),
        start_time=time(hours, minutes),
        day_of_week=DAYS.index(match["day"]),
    )


def describe_window(window: OptimizationWindow) -> str:
    """A window the way :func:`parse_window` reads it, e.g. ``'sun 02:00 6h'``."""
    start = window.start_time.strftime("%H:%M")
    return f"{DAYS[window.day_of_week]} {start} {describe_duration(window.duration)}"
