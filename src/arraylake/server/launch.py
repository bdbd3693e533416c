"""Starting the service: claim the port first, say in a few lines what is served, then run uvicorn.

People read standard output: what is served and, once it answers, "Ready". Machines read standard error:
one JSON record per event (logs.py). The port is bound here, before any worker starts, so that a port in
use is one clear error and never a "ready".
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

from sqlalchemy import make_url

from arraylake._version import __version__
from arraylake.server.settings import ServerSettings

APP = "arraylake.server.app:create_app_from_env"
STARTUP_FAILURE = 3
"""The exit status when the service stops before it was ready (uvicorn's own for a failed start)."""


class CannotListen(Exception):
    """The service cannot listen where it was asked to; the message says what to do."""


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, to hand to uvicorn (and inherited by its workers)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    # As uvicorn does: a restart may reuse the port while old connections linger in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CannotListen(_why_not(exc, host, port)) from None
    sock.set_inheritable(True)
    return sock


def _why_not(exc: OSError, host: str, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use: stop the other process or set "
            "ARRAYLAKE_SERVER_PORT (or --port)"
        )
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on port {port} on {host}: set ARRAYLAKE_SERVER_PORT above 1023"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: set ARRAYLAKE_SERVER_HOST"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host {host!r}: set ARRAYLAKE_SERVER_HOST"
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def describe_catalog(settings: ServerSettings) -> str:
    """Where the catalog is, for people: a SQLite file or a PostgreSQL database; never a password."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return f"SQLite {url.database}"
    where = url.host or str(url.query.get("host") or "localhost")
    port = f":{url.port}" if url.port else ""
    user = f" as {url.username}" if url.username else ""
    return f"PostgreSQL database {url.database} on {where}{port}{user}"


def base_url(settings: ServerSettings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}"


def summary(settings: ServerSettings) -> list[str]:
    """The lines `arraylake server start` prints before the workers start."""
    lines = [
        f"Arraylake {__version__}",
        f"  URL:      {base_url(settings)}   (API documentation: /docs)",
        f"  catalog:  {describe_catalog(settings)}",
        f"  data dir: {settings.data_dir.resolve()}",
        f"  workers:  {settings.workers}",
    ]
    if settings.public_url:
        lines.insert(2, f"  public:   {settings.public_url}")
    if settings.metrics != "off":
        lines.append(f"  metrics:  /metrics ({settings.metrics})")
    return lines


@contextlib.contextmanager
def metrics_directory(settings: ServerSettings) -> Iterator[None]:
    """With several workers and metrics on, a private directory where every worker writes its metrics
    (prometheus-client's multiprocess mode), removed when the service stops."""
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # never someone else's, with stale values in it
    if settings.workers == 1 or settings.metrics == "off":
        yield
        return
    path = tempfile.mkdtemp(prefix="arraylake-metrics-")  # mode 0700
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        yield
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(path, ignore_errors=True)


def _probe_address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):  # noqa: S104 (listening everywhere: ask over loopback)
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"  # noqa: S104
    return host, port


def _answers(host: str, port: int) -> bool:
    connection = http.client.HTTPConnection(host, port, timeout=2)
    try:
        connection.request("GET", "/health", headers={"x-request-id": "start-up-probe"})
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def announce_when_ready(sock: socket.socket, announce: Callable[[], None]) -> threading.Event:
    """Call ``announce`` once the service answers ``/health`` on ``sock``; the event is set then."""
    ready = threading.Event()
    host, port = _probe_address(sock)

    def probe() -> None:
        while not _answers(host, port):
            time.sleep(0.05)
        ready.set()
        announce()

    threading.Thread(target=probe, name="arraylake-ready-probe", daemon=True).start()
    return ready


def serve(settings: ServerSettings, sock: socket.socket, announce: Callable[[], None]) -> bool:
    """Run the service on ``sock`` until it is stopped; whether it ever became ready."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        APP,
        factory=True,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        server_header=False,
        # uvicorn would otherwise believe X-Forwarded-For from any local process, letting a client choose
        # the address the sign-in throttle and the device approval page see.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or "",
    )
    ready = announce_when_ready(sock, announce)
    try:
        if settings.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return ready.is_set()
