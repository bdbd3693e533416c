"""Repo maintenance: the expiration and garbage-collection policy of a repo (and its org's default), runs on
demand (or dry), and the history of runs.

These are methods of :class:`arraylake.AsyncClient` (and, synchronously, :class:`arraylake.Client`).

A policy has three parts: the weekly window the service may work in, expiration (snapshots older than an
age leave the history; branch tips and tags stay) and garbage collection (objects nothing reaches any more
are deleted once older than a safety margin). A repo part left unset falls back to the org's default, then
to the service's (its window; expiration and GC off).
"""

from __future__ import annotations

import asyncio
import time as clock
from collections.abc import Iterable
from datetime import timedelta
from enum import Enum
from typing import Final

from arraylake.client.transport import Transport
from arraylake.names import parse_repo_name, validate_org_name
from arraylake.types.maintenance import (
    EffectiveMaintenance,
    ExpirationConfig,
    GCConfig,
    MaintenanceRun,
    MaintenanceRunPage,
    MaintenanceRunRequest,
    OptimizationConfig,
    OptimizationWindow,
    RepoMaintenance,
    parse_window,
)

ENDED = ("succeeded", "failed")
POLL_SECONDS = 1.0


class _Keep(Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
"""An argument left as it is (the default of :meth:`MaintenanceMethods.set_maintenance`'s arguments)."""


def _window(value: str | OptimizationWindow) -> OptimizationWindow:
    return parse_window(value) if isinstance(value, str) else value


def changed_policy(
    current: OptimizationConfig,
    inherited: EffectiveMaintenance | None = None,
    *,
    window: str | OptimizationWindow | _Keep | None = KEEP,
    expiration: bool | _Keep | None = KEEP,
    expire_older_than: timedelta | _Keep = KEEP,
    gc: bool | _Keep | None = KEEP,
    gc_margin: timedelta | _Keep = KEEP,
    extra_roots: Iterable[str] | _Keep = KEEP,
) -> OptimizationConfig:
    """``current`` with the given changes (see :meth:`MaintenanceMethods.set_maintenance`).

    A part the policy does not set yet starts from ``inherited`` (what applies now), so that changing one
    setting of it keeps the others.
    """
    new_window = current.window if window is KEEP else (None if window is None else _window(window))

    expiring = current.expiration_config or (inherited.expiration if inherited else None)
    if expiration is None:
        new_expiration = None
    elif expiration is KEEP and expire_older_than is KEEP:
        new_expiration = current.expiration_config
    else:
        # Giving an age turns expiration on, unless told otherwise.
        enabled = expiration if isinstance(expiration, bool) else True
        age = _age(expire_older_than, expiring)
        if age is None and enabled:
            raise ValueError("expiration needs an age: give expire_older_than (e.g. timedelta(days=30))")
        new_expiration = ExpirationConfig(
            # Off and no age anywhere: 0 stands for "none", never reused as an age (see _age).
            expire_versions_older_than=age or timedelta(0),
            expire_every=expiring.expire_every if expiring else None,
            enabled=enabled,
        )

    collecting = current.gc_config or (inherited.gc if inherited else None)
    if gc is None:
        new_gc = None
    elif gc is KEEP and gc_margin is KEEP and extra_roots is KEEP:
        new_gc = current.gc_config
    else:
        base = collecting.model_copy(deep=True) if collecting else GCConfig()
        if isinstance(gc, bool):
            base.enabled = gc
        if not isinstance(gc_margin, _Keep):
            for kind in (
                "dangling_chunks",
                "dangling_manifests",
                "dangling_attributes",
                "dangling_transaction_logs",
                "dangling_snapshots",
            ):
                setattr(base, kind, gc_margin)
        if not isinstance(extra_roots, _Keep):
            base.extra_gc_roots = set(extra_roots)
        new_gc = GCConfig.model_validate(base.model_dump())
    return OptimizationConfig(window=new_window, expiration_config=new_expiration, gc_config=new_gc)


def _age(given: timedelta | _Keep, expiring: ExpirationConfig | None) -> timedelta | None:
    """The expiration age to use: the one given, else the one set (an age of 0 on a policy that is off
    stands for none)."""
    if not isinstance(given, _Keep):
        return given
    if expiring is None or (not expiring.enabled and not expiring.expire_versions_older_than):
        return None
    return expiring.expire_versions_older_than


def _repo_path(name: str) -> str:
    org, repo = parse_repo_name(name)
    return f"/orgs/{org}/{repo}/maintenance"


class MaintenanceMethods:
    """Maintenance policies and runs, on top of the client's transport."""

    _transport: Transport

    async def get_maintenance(self, name: str) -> RepoMaintenance:
        """A repo's maintenance: its own policy, what applies and where each part comes from (repo, org or
        service), when the next window opens, the last run and the repo's size.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
        """
        return RepoMaintenance.model_validate(await self._transport.get_json(_repo_path(name)))

    async def set_maintenance(
        self,
        name: str,
        *,
        window: str | OptimizationWindow | _Keep | None = KEEP,
        expiration: bool | _Keep | None = KEEP,
        expire_older_than: timedelta | _Keep = KEEP,
        gc: bool | _Keep | None = KEEP,
        gc_margin: timedelta | _Keep = KEEP,
        extra_roots: Iterable[str] | _Keep = KEEP,
        reset: bool = False,
        config: OptimizationConfig | None = None,
    ) -> RepoMaintenance:
        """Change a repo's maintenance policy (needs the right to manage the repo: expiration removes
        history for good). Arguments not given keep their current value.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            window: When the service may work on the repo, weekly, in UTC: ``"sun 02:00 6h"`` or an
                :class:`OptimizationWindow`. ``None``: the org's window.
            expiration: Turn expiration on (``True``) or off (``False``); ``None``: the org's.
            expire_older_than: Snapshots older than this leave the history (branch tips, tags and the first
                snapshot stay). Giving it turns expiration on unless ``expiration=False``.
            gc: Turn garbage collection on or off; ``None``: the org's.
            gc_margin: GC's safety margin: unreachable objects younger than this are kept (the service has a
                minimum, an hour by default).
            extra_roots: Snapshot ids GC keeps (with their history) as if a branch pointed at them.
            reset: Start from nothing: every part not given falls back to the org's default.
            config: The whole policy, as the hosted service takes it (the other arguments then apply to it).

        Returns:
            The repo's maintenance after the change.
        """
        current = await self.get_maintenance(name)
        start = config if config is not None else OptimizationConfig() if reset else current.config
        new = changed_policy(
            start,
            current.effective,
            window=window,
            expiration=expiration,
            expire_older_than=expire_older_than,
            gc=gc,
            gc_margin=gc_margin,
            extra_roots=extra_roots,
        )
        response = await self._transport.request(
            "PUT", _repo_path(name), json_body=new.model_dump(mode="json")
        )
        return RepoMaintenance.model_validate(response.json())

    async def run_maintenance(
        self,
        name: str,
        *,
        dry_run: bool = False,
        wait: bool = True,
        timeout: float | None = 3600,  # noqa: ASYNC109 (Client blocks on the same call)
    ) -> MaintenanceRun:
        """Run a repo's maintenance now, outside its window, with the policy that applies to it.

        A dry run deletes nothing and reports what a run would expire (per branch and tag) and reclaim
        (objects and bytes); those who may write the repo may ask for one. A real run needs the right to
        manage the repo. Reads and writes keep working during a run.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            dry_run: Report only, delete nothing.
            wait: Wait for the run to end (``False``: return it as queued).
            timeout: Seconds to wait at most (``None``: no limit); TimeoutError after that (the run goes on).

        Returns:
            The run; when waited for, ``state`` is ``"succeeded"`` (with its ``report``) or ``"failed"``
            (with its ``error``).
        """
        response = await self._transport.request(
            "POST",
            f"{_repo_path(name)}/runs",
            json_body=MaintenanceRunRequest(dry_run=dry_run).model_dump(mode="json"),
        )
        run = MaintenanceRun.model_validate(response.json())
        deadline = None if timeout is None else clock.monotonic() + timeout
        while wait and run.state not in ENDED:
            if deadline is not None and clock.monotonic() >= deadline:
                raise TimeoutError(
                    f"maintenance run {run.id} of {name} is still {run.state} after {timeout:g} s; it "
                    f"goes on (follow it with get_maintenance_run({name!r}, {run.id!r}))"
                )
            await asyncio.sleep(POLL_SECONDS)
            run = await self.get_maintenance_run(name, run.id)
        return run

    async def get_maintenance_run(self, name: str, run_id: str) -> MaintenanceRun:
        """One maintenance run of a repo, with its report once it has ended.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            run_id: The run's id.
        """
        return MaintenanceRun.model_validate(
            await self._transport.get_json(f"{_repo_path(name)}/runs/{run_id}")
        )

    async def list_maintenance_runs(self, name: str, limit: int = 20) -> list[MaintenanceRun]:
        """A repo's maintenance runs, newest first: when, what they expired and reclaimed, their errors.

        Args:
            name: Full name of the repo, ``ORG/REPO``.
            limit: At most this many runs.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        runs: list[MaintenanceRun] = []
        cursor: str | None = None
        while len(runs) < limit:
            params: dict[str, str | int] = {"limit": min(limit - len(runs), 200)}
            if cursor:
                params["cursor"] = cursor
            page = MaintenanceRunPage.model_validate(
                await self._transport.get_json(f"{_repo_path(name)}/runs", params=params)
            )
            runs.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return runs[:limit]

    async def get_org_maintenance(self, org: str) -> OptimizationConfig:
        """An org's default maintenance policy: what its repos use for the parts they leave unset.

        Args:
            org: Name of the org.
        """
        path = f"/orgs/{validate_org_name(org)}/optimization"
        return OptimizationConfig.model_validate(await self._transport.get_json(path))

    async def set_org_maintenance(
        self,
        org: str,
        *,
        window: str | OptimizationWindow | _Keep | None = KEEP,
        expiration: bool | _Keep | None = KEEP,
        expire_older_than: timedelta | _Keep = KEEP,
        gc: bool | _Keep | None = KEEP,
        gc_margin: timedelta | _Keep = KEEP,
        extra_roots: Iterable[str] | _Keep = KEEP,
        reset: bool = False,
        config: OptimizationConfig | None = None,
    ) -> OptimizationConfig:
        """Change an org's default maintenance policy (its admins may). Arguments not given keep their
        current value; they mean what they mean for :meth:`set_maintenance`, and ``None`` (or ``reset``)
        falls back to the service's defaults (its window; expiration and GC off).

        Returns:
            The org's policy after the change.
        """
        path = f"/orgs/{validate_org_name(org)}/optimization"
        current = config if config is not None else OptimizationConfig() if reset else None
        if current is None:
            current = await self.get_org_maintenance(org)
        new = changed_policy(
            current,
            window=window,
            expiration=expiration,
            expire_older_than=expire_older_than,
            gc=gc,
            gc_margin=gc_margin,
            extra_roots=extra_roots,
        )
        response = await self._transport.request("PUT", path, json_body=new.model_dump(mode="json"))
        return OptimizationConfig.model_validate(response.json())
