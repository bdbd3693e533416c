"""ASGI middleware: a request id on every request and response, one log line per request, and the
request-size limit.

Plain ASGI (not ``BaseHTTPMiddleware``) because it runs on every request.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from arraylake.server.audit.record import client_address as audit_client_address
from arraylake.server.errors import error_response
from arraylake.server.logs import get_logger

_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
log = get_logger("arraylake.server.access")


ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]
Observer = Callable[[dict[str, Any], int, float], None]


class RequestContextMiddleware:
    """Gives every request an id (an acceptable incoming ``x-request-id``, or a new one) and logs it.

    An error nothing else handled is answered here by ``on_error``, so that the caller gets the answer (with
    the request id) on a connection that stays open, and the error is logged once, under the request id.
    ``observe``, if given, is told of every answered request: its scope (routed), status and seconds.
    """

    def __init__(self, app: Any, on_error: ErrorHandler, observe: Observer | None = None):
        self.app = app
        self.on_error = on_error
        self.observe = observe

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        offered = ""
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                offered = value.decode("latin-1")
                break
        request_id = offered if _REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        client = scope.get("client")
        audit_client_address.set(client[0] if client else None)
        status = 500
        id_header = (b"x-request-id", request_id.encode())

        started_response = False

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = message["status"]
                started_response = True
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started_response:
                raise
            response = await self.on_error(Request(scope, receive), exc)
            await response(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],  # never the query string: it may carry a token
                status=status,
                duration_ms=round(seconds * 1000, 2),
                principal=state.get("principal_id"),
            )
            if self.observe is not None:
                self.observe(scope, status, seconds)


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_body_bytes`` with 413, and NUL characters in the path or query
    with 422 (no catalog can store them), each with a JSON ``detail``.

    Declared sizes (``Content-Length``) are refused before the body is read; streamed bodies once they
    exceed the limit. Runs inside :class:`RequestContextMiddleware`, so the answer carries the request id.
    """

    def __init__(self, app: Any, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            await _refuse(scope, receive, send, 422, "the URL path and query must not contain NUL (%00)")
            return
        limit = self.max_body_bytes
        detail = f"the request body is larger than {limit} bytes"
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, 413, detail)
            return
        received = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(status_code=413, detail=detail)
            return message

        await self.app(scope, limited_receive, send)


async def _refuse(scope: dict[str, Any], receive: Any, send: Any, status: int, detail: str) -> None:
    await error_response(scope, status, detail)(scope, receive, send)
