"""ASGI middleware: a request id on every request and response, and one log line per request.

Plain ASGI (not ``BaseHTTPMiddleware``) because it runs on every request.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog

from arraylake.server.logs import get_logger

_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
log = get_logger("arraylake.server.access")


class RequestContextMiddleware:
    """Gives every request an id (an acceptable incoming ``x-request-id``, or a new one) and logs it."""

    def __init__(self, app: Any):
        self.app = app

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
        status = 500
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],  # never the query string: it may carry a token
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                principal=state.get("principal_id"),
            )
