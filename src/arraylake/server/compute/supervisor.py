"""Runs the enabled compute deployments of every org as process groups on this machine.

One service process supervises: the one holding the lock file ``{data_dir}/compute/supervisor.lock`` (with
several workers, the others keep trying to take it, and one does when the holder dies). About once a second
it reads the catalog's rows (:func:`records.supervised_rows`) and makes reality match:

* a deployment wanted running gets ``python -m arraylake.dataplane`` on a free loopback port, with
  ``min_replicas`` worker processes (at least one), in a session of its own; it is ``progressing`` until
  ``GET /_health`` answers 200, then ``available``; a public one gets a fresh token of its reader API client
  at each start (the previous ones revoked), in its environment only;
* a crash, no readiness within ``compute_start_timeout_seconds``, or a hang (``/_health`` unanswered
  :data:`LIVENESS_FAILURES` times in a row) is ``error`` with the reason (exit code or signal) until a
  restart, after an exponential backoff (1 s doubling to 60 s), is ready again;
* a new ``generation`` (a change through the API) restarts the group; ``desired=stopped`` stops it (SIGTERM
  to the group, SIGKILL after :data:`GRACE_SECONDS`) and marks it ``stopped``;
* with ``min_replicas=0``, ``compute_idle_seconds`` without requests stop it as ``sleeping``; the proxy's
  ``wake_requested_at`` starts it again.

Everything about a deployment, its own output and these events, goes to its :mod:`logbook`.

Children do not outlive the service: on a clean shutdown they are stopped (and started again, as
``progressing``, when the service starts); if the supervising process dies abruptly, the kernel sends them
SIGTERM (``PR_SET_PDEATHSIG``), and whoever takes the lock next kills any process group still marked as
started for this data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server.compute import records
from arraylake.server.compute.logbook import LINE_BYTES, Logbook, Stream
from arraylake.server.compute.skus import DEFAULT_SKU, SKUS
from arraylake.server.db.schema import api_tokens
from arraylake.server.identity.service import issue_token
from arraylake.server.logs import get_logger
from arraylake.server.settings import ServerSettings
from arraylake.types import utcnow
from arraylake.types.compute import ServiceConfig, ServiceStatus

TICK_SECONDS = 1.0
"""How often the catalog is read (twice as often while a deployment starts)."""
LOCK_RETRY_SECONDS = 2.0
GRACE_SECONDS = 5.0
"""Between SIGTERM and SIGKILL when a deployment stops."""
BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS = 1.0, 60.0
STABLE_SECONDS = 30.0
"""Available this long, a deployment's next crash starts the backoff over."""
PROBE_TIMEOUT_SECONDS = 2.0
LIVENESS_SECONDS, LIVENESS_FAILURES = 15.0, 3
"""A ready deployment is asked ``/_health`` this often; this many unanswered in a row: restarted."""
DATAPLANE_MODULE = "arraylake.dataplane"
MARKER = "ARRAYLAKE_COMPUTE_SUPERVISOR"
"""Set in every deployment's environment to ``{data dir key}/{service id}``: how strays are recognised."""
_PR_SET_PDEATHSIG = 1
# Looked up once here: after a fork, in a process with threads, loading a library could deadlock.
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None) if sys.platform == "linux" else None
# The service's own secrets and cloud credentials stay out of the deployments' environment: they read
# storage with credentials the service vends.
_WITHHELD_PREFIXES = ("ARRAYLAKE_",)
_WITHHELD = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_APPLICATION_CREDENTIALS",
}

log = get_logger("arraylake.server.compute")
_nudges: set[asyncio.Event] = set()


def nudge() -> None:
    """Ask the supervisor in this process (if it is the one) to look at the catalog now, not in a second."""
    for event in _nudges:
        event.set()


def loopback_url(settings: ServerSettings) -> str:
    """The service's own URL as its deployments reach it on this machine."""
    host = settings.host
    if host in ("", "0.0.0.0"):  # noqa: S104 (listening everywhere: reach it over loopback)
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def owner_key(data_dir: Path) -> str:
    """Tells this service's deployments apart from other services' on the same machine."""
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by signal {name} ({-returncode})"
    return f"exited with code {returncode}"


def replicas(row: Row) -> int:
    """``min_replicas`` of a deployment's configuration (``None``: 1)."""
    value = ServiceConfig.model_validate(row.config).min_replicas
    return 1 if value is None else value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dataplane_env(
    row: Row, settings: ServerSettings, *, reader_token: str | None, marker: str
) -> dict[str, str]:
    """The environment of a deployment's processes (contract: ``arraylake.dataplane.settings``)."""
    config = ServiceConfig.model_validate(row.config)
    sku = SKUS.get(row.sku_code) or SKUS[DEFAULT_SKU]
    env = {k: v for k, v in os.environ.items() if not k.startswith(_WITHHELD_PREFIXES) and k not in _WITHHELD}
    wanted: dict[str, Any] = {
        "SERVICE_URL": loopback_url(settings),
        "ORG": row.org_name,
        "DEPLOYMENT": row.name,
        "PROTOCOL": row.service_type,
        "IS_PUBLIC": "true" if row.is_public else "false",
        "MAX_RESPONSE_BYTES": sku.max_response_bytes,
        "MAX_STREAM_BYTES": sku.max_stream_bytes,
        "THREADS": sku.threads,
        "CONCURRENCY": sku.concurrency,
        "STORE_CACHE_TTL": config.store_cache_ttl,
        "STORE_CACHE_SIZE": config.store_cache_size,
        "CACHE_MAX_AGE": config.cache_max_age,
        "DASK_SCHEDULER": settings.compute_dask_scheduler,
        "LOG_LEVEL": config.log_level,
        "READER_TOKEN": reader_token,
        "PUBLIC_URL": (
            f"{records.services_base_url(settings.public_url)}/{row.name}" if settings.public_url else None
        ),
    }
    env.update({f"ARRAYLAKE_DATAPLANE_{k}": str(v) for k, v in wanted.items() if v is not None})
    env[MARKER] = marker
    return env


def _die_with_parent(parent: int) -> Any:
    def preexec() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return preexec


def kill_strays(key: str) -> list[int]:
    """Kill the process groups of deployments started for this data directory by a supervisor that is gone
    (its marker in their environment); return their ids."""
    prefix = f"{MARKER}={key}/".encode()
    own = {os.getpid(), os.getpgid(0)}
    killed: list[int] = []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit() or int(entry.name) in own:
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
            if not any(item.startswith(prefix) for item in environ.split(b"\0")):
                continue
            group = os.getpgid(int(entry.name))
            if group in own or group in killed:
                continue
            os.killpg(group, signal.SIGKILL)
            killed.append(group)
        except (OSError, ProcessLookupError):
            continue
    return killed


class SupervisorLock:
    """An exclusive ``flock`` on a file: one holder at a time, released by the kernel when it dies."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass
class Run:
    """One start of a deployment: its process group and when it became ready."""

    generation: int
    port: int
    workers: int
    process: asyncio.subprocess.Process
    started: float
    pumps: list[asyncio.Task[None]]
    ready_at: float | None = None
    ready_wall: Any = None
    probed_at: float = 0.0
    unanswered: int = 0

    @property
    def group(self) -> int:
        return self.process.pid  # the leader of its own session and process group


@dataclass
class Track:
    """What the supervisor remembers of a deployment between its starts."""

    logbook: Logbook
    run: Run | None = None
    failures: int = 0
    next_start: float = 0.0
    detail: str | None = None


async def _pump(reader: asyncio.StreamReader, logbook: Logbook, stream: Stream) -> None:
    pending = b""
    while chunk := await reader.read(65536):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            logbook.write(stream, line.decode("utf-8", errors="replace"))
        if len(pending) > 4 * LINE_BYTES:
            logbook.write(stream, pending.decode("utf-8", errors="replace"))
            pending = b""
    if pending:
        logbook.write(stream, pending.decode("utf-8", errors="replace"))


def _signal_group(group: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)


class Supervisor:
    """The reconcile loop of the process that holds the lock (see the module's docstring)."""

    def __init__(self, settings: ServerSettings, engine: AsyncEngine):
        self.settings = settings
        self.engine = engine
        self.data_dir = settings.data_dir.resolve()
        self.key = owner_key(self.data_dir)
        self.tracks: dict[str, Track] = {}
        self.http = httpx.AsyncClient(timeout=PROBE_TIMEOUT_SECONDS, trust_env=False)

    # ------------------------------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Take the lock when it is free, then supervise until cancelled (then stop every deployment)."""
        lock = SupervisorLock(self.data_dir / "compute" / "supervisor.lock")
        while not lock.try_acquire():  # noqa: ASYNC110 (another process holds it: nothing to wait on here)
            await asyncio.sleep(LOCK_RETRY_SECONDS)
        wake = asyncio.Event()
        _nudges.add(wake)
        try:
            strays = kill_strays(self.key)
            log.info("supervising compute services", pid=os.getpid(), strays_killed=len(strays))
            while True:
                try:
                    await self.reconcile()
                except Exception as exc:
                    log.warning("compute reconcile failed", error=str(exc), kind=type(exc).__name__)
                starting = any(t.run is not None and t.run.ready_at is None for t in self.tracks.values())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), TICK_SECONDS / 2 if starting else TICK_SECONDS)
                wake.clear()
        finally:
            _nudges.discard(wake)
            await asyncio.shield(self._shutdown())
            lock.release()

    async def _shutdown(self) -> None:
        running = [sid for sid, t in self.tracks.items() if t.run is not None]
        stops = (self._stop(self.tracks[sid], "the service is stopping") for sid in running)
        await asyncio.gather(*stops, return_exceptions=True)
        await self.http.aclose()
        # Until the service is back (and starts them again), requests wait for them rather than fail.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                for sid in running:
                    await self._observe(
                        sid,
                        status=ServiceStatus.PROGRESSING.value,
                        status_detail="the service is restarting",
                        ready_replicas=0,
                        port=None,
                    )

    async def reconcile(self) -> None:
        """One pass: read the wanted state of every deployment and act on each."""
        async with self.engine.connect() as conn:
            rows = await records.supervised_rows(conn)
        present = {row.id for row in rows}
        results = await asyncio.gather(
            *(self._step(row) for row in rows),
            *(self._forget(sid) for sid in list(self.tracks) if sid not in present),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, Exception):
                log.warning("compute deployment step failed", error=str(result), kind=type(result).__name__)

    async def _observe(self, service_id: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await records.observe(conn, service_id, **values)

    # ------------------------------------------------------------------------------- one deployment

    async def _step(self, row: Row) -> None:
        track = self.tracks.get(row.id)
        if track is None:
            track = self.tracks[row.id] = Track(Logbook(self.data_dir, row.id))
            ran = row.running_generation is not None and row.status != ServiceStatus.SLEEPING.value
            if row.desired == records.RUNNING and ran:
                track.logbook.event(f"the service (re)started: process {os.getpid()} supervises it now")
        if row.desired != records.RUNNING:
            await self._disable(track, row)
            return
        run = track.run
        if run is not None and run.generation != row.generation:
            track.logbook.event(f"configuration changed (generation {row.generation}): restarting")
            await self._stop(track, "restarting for a new configuration")
            track.failures, track.next_start, track.detail = 0, 0.0, None
            run = None
        if run is None:
            await self._maybe_start(track, row)
        elif run.process.returncode is not None:
            await self._failed(track, row, describe_exit(run.process.returncode))
        elif run.ready_at is None:
            await self._check_start(track, row, run)
        else:
            await self._check_running(track, row, run)

    async def _maybe_start(self, track: Track, row: Row) -> None:
        asleep = row.status == ServiceStatus.SLEEPING.value and row.running_generation == row.generation
        if asleep and replicas(row) == 0 and row.wake_requested_at is None:
            return
        if time.monotonic() < track.next_start:
            return
        if asleep:
            track.logbook.event("a request arrived: waking up")
        if track.failures:
            await self._start(track, row, ServiceStatus.ERROR, f"{track.detail}; restarting")
        else:
            await self._start(track, row, ServiceStatus.PROGRESSING, None)

    async def _start(self, track: Track, row: Row, status: ServiceStatus, detail: str | None) -> None:
        workers = max(1, replicas(row))
        port = free_port()
        token = await self._mint_reader_token(track, row) if row.is_public else None
        env = dataplane_env(row, self.settings, reader_token=token, marker=f"{self.key}/{row.id}")
        args = [*(sys.executable, "-m", DATAPLANE_MODULE), "--host", "127.0.0.1", "--port", str(port)]
        args += ["--workers", str(workers)]
        track.logbook.event(
            f"starting generation {row.generation}: {row.service_type} on port {port}, "
            f"{workers} worker process(es), SKU {row.sku_code}"
        )
        cwd = self.data_dir / "compute"
        cwd.mkdir(parents=True, exist_ok=True)
        try:
            process = await asyncio.create_subprocess_exec(
                *args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),  # one prctl call, preloaded
            )
        except OSError as exc:
            track.run = None
            await self._failed(track, row, f"could not start: {exc.strerror or exc}")
            return
        assert process.stdout is not None and process.stderr is not None
        pumps = [
            asyncio.create_task(_pump(process.stdout, track.logbook, "stdout")),
            asyncio.create_task(_pump(process.stderr, track.logbook, "stderr")),
        ]
        track.run = Run(row.generation, port, workers, process, time.monotonic(), pumps)
        log.info("compute deployment starting", deployment=row.name, org=row.org_name, port=port)
        await self._observe(
            row.id,
            status=status.value,
            status_detail=detail,
            port=port,
            ready_replicas=0,
            running_generation=row.generation,
            wake_requested_at=None,
        )

    async def _check_start(self, track: Track, row: Row, run: Run) -> None:
        if await self._answers(run.port):
            run.ready_at = run.probed_at = time.monotonic()
            run.ready_wall = utcnow()
            track.detail = None
            track.logbook.event(
                f"ready after {run.ready_at - run.started:.1f} s: {run.workers} replica(s) on port {run.port}"
            )
            log.info("compute deployment available", deployment=row.name, org=row.org_name)
            await self._observe(
                row.id,
                status=ServiceStatus.AVAILABLE.value,
                status_detail=None,
                ready_replicas=run.workers,
            )
            return
        timeout = self.settings.compute_start_timeout_seconds
        if time.monotonic() - run.started > timeout:
            await self._stop(track, "not ready in time")
            await self._failed(track, row, f"did not pass its readiness check within {timeout:g} s")

    async def _check_running(self, track: Track, row: Row, run: Run) -> None:
        now = time.monotonic()
        if now - run.probed_at >= LIVENESS_SECONDS:
            run.probed_at = now
            run.unanswered = 0 if await self._answers(run.port) else run.unanswered + 1
            if run.unanswered >= LIVENESS_FAILURES:
                await self._stop(track, "hung")
                await self._failed(
                    track, row, f"stopped answering its readiness check ({run.unanswered} checks in a row)"
                )
                return
        if replicas(row) != 0:
            return
        last = max(filter(None, (row.last_request_at, run.ready_wall)))
        idle = self.settings.compute_idle_seconds
        if utcnow() - last < timedelta(seconds=idle):
            return
        track.logbook.event(f"no request for {idle:g} s with min_replicas=0: sleeping until the next one")
        await self._stop(track, "idle")
        await self._observe(
            row.id,
            status=ServiceStatus.SLEEPING.value,
            status_detail=None,
            ready_replicas=0,
            port=None,
            wake_requested_at=None,
        )

    async def _failed(self, track: Track, row: Row, reason: str) -> None:
        run, track.run = track.run, None
        if run is not None:
            await self._reap(run)
            if run.ready_at is not None and time.monotonic() - run.ready_at > STABLE_SECONDS:
                track.failures = 0
        track.failures += 1
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (track.failures - 1))
        track.next_start = time.monotonic() + delay
        track.detail = reason
        track.logbook.event(f"{reason}; restarting in {delay:g} s")
        log.warning("compute deployment failed", deployment=row.name, org=row.org_name, reason=reason)
        await self._observe(
            row.id,
            status=ServiceStatus.ERROR.value,
            status_detail=f"{reason}; restarting in {delay:g} s",
            ready_replicas=0,
            restarts=row.restarts + 1,
        )

    async def _disable(self, track: Track, row: Row) -> None:
        if track.run is not None:
            await self._stop(track, "disabled")
        self.tracks.pop(row.id, None)
        if row.reader_id is not None:
            await self._revoke_reader_tokens(row.reader_id, keep=None)
        await self._observe(
            row.id,
            status=ServiceStatus.STOPPED.value,
            status_detail=None,
            ready_replicas=0,
            port=None,
            running_generation=None,
            wake_requested_at=None,
        )
        track.logbook.event("stopped: disabled")

    async def _forget(self, service_id: str) -> None:
        track = self.tracks.pop(service_id)
        if track.run is not None:
            await self._stop(track, "no longer in the catalog")

    # ------------------------------------------------------------------------------------- processes

    async def _answers(self, port: int) -> bool:
        try:
            response = await self.http.get(f"http://127.0.0.1:{port}/_health")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _stop(self, track: Track, why: str) -> None:
        run, track.run = track.run, None
        if run is None:
            return
        if run.process.returncode is None:
            _signal_group(run.group, signal.SIGTERM)
            try:
                await asyncio.wait_for(run.process.wait(), GRACE_SECONDS)
            except TimeoutError:
                track.logbook.event(f"still running {GRACE_SECONDS:g} s after SIGTERM: SIGKILL")
        await self._reap(run)
        code = run.process.returncode
        # Ending on the SIGTERM it was sent (or with 0) is the expected way; anything else is worth saying.
        ended = "" if code in (0, -signal.SIGTERM) else f": {describe_exit(code or 0)}"
        track.logbook.event(f"stopped ({why}){ended}")

    async def _reap(self, run: Run) -> None:
        # Whatever is left of the group (workers whose leader is gone) goes too.
        _signal_group(run.group, signal.SIGKILL)
        await run.process.wait()
        await asyncio.gather(*run.pumps, return_exceptions=True)

    # ----------------------------------------------------------------------------------- reader tokens

    async def _mint_reader_token(self, track: Track, row: Row) -> str | None:
        """A fresh token for the API client a public deployment reads as; the previous ones are revoked.
        It exists in clear only in the deployment's environment."""
        if row.reader_id is None:
            track.logbook.event("public deployment without a reader API client: anonymous reads will fail")
            return None
        async with self.engine.begin() as conn:
            token_id, token = await issue_token(conn, row.reader_id, name=f"compute deployment {row.name}")
            await self._revoke_reader_tokens(row.reader_id, keep=token_id, conn=conn)
        return token

    async def _revoke_reader_tokens(self, reader_id: str, *, keep: str | None, conn: Any = None) -> None:
        query = update(api_tokens).where(
            api_tokens.c.principal_id == reader_id, api_tokens.c.revoked_at.is_(None)
        )
        if keep is not None:
            query = query.where(api_tokens.c.id != keep)
        if conn is not None:
            await conn.execute(query.values(revoked_at=utcnow()))
            return
        async with self.engine.begin() as new_conn:
            await new_conn.execute(query.values(revoked_at=utcnow()))


async def supervise(settings: ServerSettings, engine: AsyncEngine) -> None:
    """The background task of every service process when ``compute_supervise`` is on: one of them (the
    holder of the lock) runs the deployments."""
    await Supervisor(settings, engine).run()
