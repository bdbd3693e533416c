"""HTTP transport of the client: bearer auth, retries, typed errors.

Requests go out on an httpx client per event loop (the async core), or, for the few calls the synchronous
``Client`` makes without its event loop, on one blocking httpx client per process.

Retries: 429, 502, 503 and 504 for every method (the service answers those only for transient trouble), with
``Retry-After`` honoured and exponential backoff otherwise; connection failures before a request was sent are
retried for every method, other transport failures only for idempotent methods. A connection that fails
before the service has ever answered (nothing listens there, no such host) fails at once: retrying a wrong
address only makes the user wait. Each retry is logged at debug level on ``arraylake.transport`` and told to
the hook of :func:`retry_notices` (the command line prints it).

Answers that are not in the service's dialect (JSON, errors as ``{"detail": ...}``) raise
:class:`NotArraylakeServiceError` instead of passing on another server's web page or XML.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from arraylake._version import __version__
from arraylake.client.io_loop import run_sync
from arraylake.config import config
from arraylake.exceptions import ArraylakeConnectionError, NotArraylakeServiceError, error_class_for_status

RETRY_STATUSES = frozenset({429, 502, 503, 504})
GATEWAY_STATUSES = frozenset({502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
MAX_BACKOFF_SECONDS = 10.0
MAX_RETRY_AFTER_SECONDS = 60.0
UNREACHABLE_HINT = (
    "is the service running (`arraylake server start`), and is `service.uri` the right address?"
)

# The logger keeps the name it is documented under, from before the module moved into the client package.
log = logging.getLogger("arraylake.transport")


@dataclass(frozen=True)
class Retry:
    """A retry the transport is about to make."""

    method: str
    url: str
    reason: str
    attempt: int
    limit: int
    delay: float

    def __str__(self) -> str:
        return (
            f"Retrying {self.method} {self.url} in {self.delay:.1f} s "
            f"({self.attempt} of {self.limit}): {self.reason}"
        )


RetryHook = Callable[[Retry], None]
_retry_hook: RetryHook | None = None


@contextmanager
def retry_notices(hook: RetryHook) -> Iterator[None]:
    """Call ``hook`` before every retry of every transport of this process while the block runs."""
    global _retry_hook
    previous, _retry_hook = _retry_hook, hook
    try:
        yield
    finally:
        _retry_hook = previous


@dataclass
class TransportSettings:
    """Tuning of the HTTP transport (from the ``http.*`` and ``service.ssl.*`` config keys)."""

    timeout: float = 300.0
    max_retries: int = 10
    retries: int = 5
    verify: bool | str = True
    max_keepalive_connections: int = 100
    keepalive_expiry: float = 30.0
    extra_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls) -> TransportSettings:
        """The settings of the ``http.*`` and ``service.ssl.*`` config keys."""
        cafile = config.get("service.ssl.cafile", None)
        verify = config.get("service.ssl.verify", True)
        return cls(
            timeout=float(config.get("http.timeout", 300)),
            max_retries=int(config.get("http.max_retries", 10)),
            retries=int(config.get("http.retries", 5)),
            verify=cafile if (verify and cafile) else bool(verify),
            max_keepalive_connections=int(config.get("http.max_keepalive_connections", 100)),
            keepalive_expiry=float(config.get("http.keepalive_expiry", 30)),
        )


def _backoff(attempt: int) -> float:
    delay = min(MAX_BACKOFF_SECONDS, 0.1 * 2**attempt)
    return delay * random.uniform(0.9, 1.1)


def _retry_after(response: httpx.Response, attempt: int) -> float:
    header = response.headers.get("retry-after", "")
    if header.isdigit():
        return min(float(header), MAX_RETRY_AFTER_SECONDS)
    return _backoff(attempt)


def _error_detail(response: httpx.Response) -> object:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return body["detail"]
    return body


def _describe(detail: object) -> str:
    if isinstance(detail, list):  # FastAPI validation errors: [{loc, msg, type}, ...]
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                where = ".".join(str(x) for x in item.get("loc", ()) if x != "body")
                parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def speaks_arraylake(response: httpx.Response) -> bool:
    """Whether an answer is in the service's dialect: JSON (or nothing), errors as ``{"detail": ...}``."""
    media = _media_type(response)
    is_json = media == "application/json" or media.endswith("+json")
    if response.is_success:
        return is_json or not response.content
    if not is_json:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "detail" in body


def _foreign_answer(service_uri: str, response: httpx.Response) -> NotArraylakeServiceError:
    what = _media_type(response) or "no content type"
    message = (
        f"{service_uri} does not look like an Arraylake service (answered {response.status_code} {what})"
    )
    if response.status_code in GATEWAY_STATUSES:
        message += ": a proxy or gateway in front of a service that is down?"
    return NotArraylakeServiceError(message, status_code=response.status_code, content_type=what)


def raise_for_status(response: httpx.Response, service_uri: str | None = None) -> None:
    """Raise the typed client exception for an error response, with the service's detail and request id.

    With ``service_uri``: also for an answer that is not in the service's dialect, whatever its status.
    """
    if service_uri is not None and not speaks_arraylake(response):
        raise _foreign_answer(service_uri, response)
    if response.is_success:
        return
    detail = _error_detail(response)
    request_id = response.headers.get("x-request-id")
    request = response.request
    message = f"{_describe(detail)} (HTTP {response.status_code} on {request.method} {request.url.path})"
    if request_id:
        message += f" [request-id: {request_id}]"
    cls = error_class_for_status(response.status_code)
    raise cls(message, status_code=response.status_code, detail=detail, request_id=request_id)


def _reason(exc: httpx.TransportError) -> str:
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


class Auth(Protocol):
    """Where the ``Authorization`` header comes from."""

    def authorization(self) -> str | None: ...

    async def refresh(self, rejected: str) -> bool:
        """After a 401 for the header ``rejected``: get new credentials; whether to retry once."""
        ...


class TokenAuth:
    """A fixed API token: never refreshed."""

    def __init__(self, token: str | None):
        self._header = f"Bearer {token}" if token else None

    def authorization(self) -> str | None:
        return self._header

    async def refresh(self, rejected: str) -> bool:
        return False


class Attempts:
    """One request and its retry policy, free of I/O, so the async and the blocking paths share them."""

    def __init__(
        self,
        transport: Transport,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        content: str | None,
    ):
        self.transport = transport
        self.method = method.upper()
        self.path = path
        self.params = params
        self.content = json.dumps(json_body) if json_body is not None else content
        self.authorization: str | None = None
        self.status_attempt = 0
        self.transport_attempt = 0
        self.refreshed = False

    def next_request(self, client: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The request to send now, with the current credentials."""
        headers = {"content-type": "application/json"} if self.content is not None else {}
        self.authorization = self.transport.auth.authorization()
        if self.authorization is not None:
            headers["authorization"] = self.authorization
        return client.build_request(
            self.method, self.path, params=self.params, content=self.content, headers=headers
        )

    def after_transport_error(self, exc: httpx.TransportError) -> float:
        """The pause before sending again; raises ``ArraylakeConnectionError`` when it is time to give up."""
        if isinstance(exc, httpx.ConnectError) and not self.transport.reached:
            raise ArraylakeConnectionError(
                f"could not reach the Arraylake service at {self.transport.service_uri}"
                f" ({_reason(exc)}): {UNREACHABLE_HINT}"
            ) from exc
        not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        limit = self.transport.settings.retries
        if self.transport_attempt < limit and (not_sent or self.method in IDEMPOTENT_METHODS):
            self.transport_attempt += 1
            delay = 0.5 * 2 ** (self.transport_attempt - 1)
            self._notify(_reason(exc), self.transport_attempt, limit, delay)
            return delay
        raise ArraylakeConnectionError(
            f"could not reach the Arraylake service at {self.transport.service_uri}: {_reason(exc)}"
        ) from exc

    def _notify(self, reason: str, attempt: int, limit: int, delay: float) -> None:
        retry = Retry(self.method, f"{self.transport.service_uri}{self.path}", reason, attempt, limit, delay)
        log.debug("%s", retry)
        hook = _retry_hook
        if hook is not None:
            hook(retry)

    def may_refresh(self, response: httpx.Response) -> bool:
        """Whether to refresh the credentials and send again (once, after a 401)."""
        if response.status_code == 401 and self.authorization is not None and not self.refreshed:
            self.refreshed = True
            return True
        return False

    def retry_delay(self, response: httpx.Response) -> float | None:
        """The pause before sending again after a transient error answer, or ``None`` to keep the answer."""
        retryable = response.headers.get("x-arraylake-retry") != "no"
        limit = self.transport.settings.max_retries
        if response.status_code in RETRY_STATUSES and retryable and self.status_attempt < limit:
            self.status_attempt += 1
            delay = _retry_after(response, self.status_attempt - 1)
            self._notify(
                f"HTTP {response.status_code} {response.reason_phrase}", self.status_attempt, limit, delay
            )
            return delay
        return None


class Transport:
    """Sends requests to the Arraylake service and turns error answers into exceptions."""

    def __init__(
        self,
        service_uri: str,
        auth: Auth | str | None,
        settings: TransportSettings | None = None,
        *,
        reached: bool = False,
    ):
        """``reached``: the service is known to have answered before (in another process), so a refused
        connection is a restart to wait out, not a wrong address."""
        if not service_uri.startswith(("http://", "https://")):
            raise ValueError(f"service_uri must start with http:// or https://, got {service_uri!r}")
        self.service_uri = service_uri.rstrip("/")
        self.auth: Auth = TokenAuth(auth) if auth is None or isinstance(auth, str) else auth
        self.settings = settings or TransportSettings()
        self.reached = reached  # until the service has answered once, a refused connection is not retried
        self._clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
        self._blocking: tuple[int, httpx.Client] | None = None
        self._blocking_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Transport({self.service_uri!r})"

    def _headers(self) -> dict[str, str]:
        headers = {
            "accept": "application/json",
            "client-name": "arraylake-open-python",
            "client-version": __version__,
            "user-agent": f"arraylake-open/{__version__} httpx/{httpx.__version__}",
            **self.settings.extra_headers,
        }
        return headers

    def _client_options(self) -> dict[str, Any]:
        s = self.settings
        return {
            "base_url": self.service_uri,
            "headers": self._headers(),
            "timeout": s.timeout,
            "verify": s.verify,
            "limits": httpx.Limits(
                max_keepalive_connections=s.max_keepalive_connections, keepalive_expiry=s.keepalive_expiry
            ),
        }

    def _client(self) -> httpx.AsyncClient:
        # httpx pools belong to the loop that created them; each loop gets its own client.
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed:
            for old_loop in [old for old in self._clients if old.is_closed()]:
                del self._clients[old_loop]
            client = httpx.AsyncClient(**self._client_options())
            self._clients[loop] = client
        return client

    def _blocking_client(self) -> httpx.Client:
        # One per process: a forked child (a Dask worker) must not share its parent's connections.
        with self._blocking_lock:
            if self._blocking is None or self._blocking[0] != os.getpid() or self._blocking[1].is_closed:
                self._blocking = (os.getpid(), httpx.Client(**self._client_options()))
            return self._blocking[1]

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: str | None = None,
    ) -> httpx.Response:
        """Send a request, retrying transient failures; return the 2xx response or raise."""
        attempts = Attempts(self, method, path, params=params, json_body=json_body, content=content)
        while True:
            client = self._client()
            try:
                response = await client.send(attempts.next_request(client))
            except httpx.TransportError as exc:
                await asyncio.sleep(attempts.after_transport_error(exc))
                continue
            self.reached = True
            if attempts.may_refresh(response) and await self.auth.refresh(attempts.authorization or ""):
                continue
            delay = attempts.retry_delay(response)
            if delay is None:
                raise_for_status(response, self.service_uri)
                return response
            await asyncio.sleep(delay)

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """:meth:`request` for an answer read as it arrives (streamed text, e.g. logs): the 2xx response with
        its body unread, closed when the block ends; error answers raise as in :meth:`request`.

        ``read_timeout``: the longest wait for the next piece of the body, when the service may stay quiet
        for longer than the configured timeout (a followed log)."""
        attempts = Attempts(self, method, path, params=params, json_body=None, content=None)
        while True:
            client = self._client()
            request = attempts.next_request(client)
            if read_timeout is not None:
                request.extensions["timeout"] = httpx.Timeout(
                    self.settings.timeout, read=max(read_timeout, self.settings.timeout)
                ).as_dict()
            try:
                response = await client.send(request, stream=True)
            except httpx.TransportError as exc:
                await asyncio.sleep(attempts.after_transport_error(exc))
                continue
            self.reached = True
            if response.is_success:
                break
            await response.aread()
            await response.aclose()
            if attempts.may_refresh(response) and await self.auth.refresh(attempts.authorization or ""):
                continue
            delay = attempts.retry_delay(response)
            if delay is None:
                raise_for_status(response, self.service_uri)
            await asyncio.sleep(delay or 0)
        try:
            yield response
        finally:
            await response.aclose()

    def request_blocking(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: str | None = None,
    ) -> httpx.Response:
        """:meth:`request` in the caller's thread, without an event loop (no hand-over to another thread)."""
        attempts = Attempts(self, method, path, params=params, json_body=json_body, content=content)
        while True:
            client = self._blocking_client()
            try:
                response = client.send(attempts.next_request(client))
            except httpx.TransportError as exc:
                time.sleep(attempts.after_transport_error(exc))
                continue
            self.reached = True
            if attempts.may_refresh(response) and run_sync(self.auth.refresh(attempts.authorization or "")):
                continue
            delay = attempts.retry_delay(response)
            if delay is None:
                raise_for_status(response, self.service_uri)
                return response
            time.sleep(delay)

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return (await self.request("GET", path, params=params)).json()

    async def aclose(self) -> None:
        """Close the HTTP client of the running loop, and the blocking one."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        with self._blocking_lock:
            blocking, self._blocking = self._blocking, None
        if blocking is not None and blocking[0] == os.getpid():
            blocking[1].close()
