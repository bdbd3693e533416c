"""The client's HTTP transport against a scripted, flaky stand-in peer (a stdlib HTTP server in a thread).

The peer is not our service: it answers whatever each test scripts, so that retries, Retry-After and error
translation can be observed exactly.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import icechunk
import pytest

from arraylake.client.storage_credentials import ServiceCredentials
from arraylake.client.transport import Retry, Transport, TransportSettings, raise_for_status, retry_notices
from arraylake.exceptions import (
    ArraylakeAuthenticationError,
    ArraylakeClientError,
    ArraylakeConflictError,
    ArraylakeConnectionError,
    ArraylakeHttpError,
    ArraylakeNotFoundError,
    ArraylakeServerError,
    ArraylakeValidationError,
    NotArraylakeServiceError,
)
from tests.support.processes import free_port

TOKEN = "ema_" + "t" * 40


@dataclass
class Reply:
    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    port: int


class Peer:
    """Scripted replies per path (the last one repeats) and a record of every request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scripts: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the service does

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with peer.lock:
                    peer.seen.append(
                        Seen(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                            self.client_address[1],
                        )
                    )
                    script = peer.scripts.get(path) or [Reply(599, {"detail": f"unscripted path {path}"})]
                    reply = script.pop(0) if len(script) > 1 else script[0]
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def script(self, *replies: Reply) -> str:
        """A fresh path that answers ``replies`` in order."""
        path = f"/t/{uuid.uuid4().hex}"
        with self.lock:
            self.scripts[path] = list(replies)
        return path

    def requests_to(self, path: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.path.split("?", 1)[0] == path]


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    p = Peer()
    p.thread.start()
    yield p
    p.server.shutdown()
    p.server.server_close()


class Sender:
    """The transport's async path, or its blocking one (run in a worker thread), behind one async face."""

    def __init__(self, transport: Transport, mode: str):
        self.transport, self.blocking = transport, mode == "blocking"

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.blocking:
            return await asyncio.to_thread(self.transport.request_blocking, method, path, **kwargs)
        return await self.transport.request(method, path, **kwargs)

    async def get_json(self, path: str) -> Any:
        return (await self.request("GET", path)).json()

    async def aclose(self) -> None:
        await self.transport.aclose()


@pytest.fixture(params=["async", "blocking"])
def mode(request: pytest.FixtureRequest) -> str:
    """Every request test runs on both paths of the transport: they share one retry policy."""
    return str(request.param)


def sender(mode: str, peer: Peer, **settings: Any) -> Sender:
    return Sender(Transport(peer.url, TOKEN, TransportSettings(timeout=10, **settings)), mode)


# ------------------------------------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_transient_status_then_success_is_retried(peer: Peer, status: int, mode: str) -> None:
    path = peer.script(Reply(status, {"detail": "busy"}), Reply(200, {"ok": True}))
    t = sender(mode, peer)
    response = await t.request("GET", path)
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert len(peer.requests_to(path)) == 2
    await t.aclose()


async def test_post_is_retried_on_503_too(peer: Peer, mode: str) -> None:
    path = peer.script(Reply(503, {"detail": "busy"}), Reply(201, {"created": 1}))
    t = sender(mode, peer)
    response = await t.request("POST", path, json_body={"name": "x"})
    assert response.status_code == 201
    seen = peer.requests_to(path)
    assert [s.method for s in seen] == ["POST", "POST"]
    assert seen[0].body == seen[1].body == b'{"name": "x"}'
    await t.aclose()


async def test_retry_after_is_honoured(peer: Peer, mode: str) -> None:
    path = peer.script(Reply(503, {"detail": "later"}, {"retry-after": "1"}), Reply(200, {"ok": True}))
    t = sender(mode, peer)
    await t.request("GET", path)
    first, second = peer.requests_to(path)
    # without the header, the first backoff is ~0.1 s
    assert 0.95 <= second.at - first.at < 5
    await t.aclose()


async def test_429_with_retry_after_is_retried(peer: Peer, mode: str) -> None:
    path = peer.script(
        Reply(429, {"detail": "slow down"}, {"retry-after": "1"}),
        Reply(429, {"detail": "slow down"}),
        Reply(200, [1, 2, 3]),
    )
    t = sender(mode, peer)
    assert await t.get_json(path) == [1, 2, 3]
    seen = peer.requests_to(path)
    assert len(seen) == 3
    assert seen[1].at - seen[0].at >= 0.95
    await t.aclose()


async def test_persisting_503_gives_up_after_max_retries(peer: Peer, mode: str) -> None:
    path = peer.script(Reply(503, {"detail": "the catalog database is unavailable"}))
    t = sender(mode, peer, max_retries=2)
    with pytest.raises(ArraylakeServerError) as info:
        await t.request("GET", path)
    assert len(peer.requests_to(path)) == 3  # the first try and two retries
    assert info.value.status_code == 503
    assert "the catalog database is unavailable (HTTP 503 on GET " in str(info.value)
    await t.aclose()


async def test_persisting_500_is_a_server_error(peer: Peer, mode: str) -> None:
    path = peer.script(
        Reply(500, {"detail": "internal error", "request_id": "r-500"}, {"x-request-id": "r-500"})
    )
    t = sender(mode, peer, max_retries=2)
    with pytest.raises(ArraylakeServerError) as info:
        await t.request("GET", path)
    assert info.value.status_code == 500 and info.value.request_id == "r-500"
    assert str(info.value) == f"internal error (HTTP 500 on GET {path}) [request-id: r-500]"
    # 500 is not one of the transient statuses the transport retries (see its docstring)
    assert len(peer.requests_to(path)) == 1
    await t.aclose()


async def test_connection_refused_before_any_answer_fails_at_once(mode: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    t = Sender(Transport(url, TOKEN, TransportSettings(timeout=5, retries=3)), mode)
    retries: list[Retry] = []
    with retry_notices(retries.append), pytest.raises(ArraylakeConnectionError) as info:
        await t.request("POST", "/orgs/x/repos", json_body={})
    assert str(info.value).startswith(f"could not reach the Arraylake service at {url} (ConnectError")
    assert "arraylake server start" in str(info.value) and "service.uri" in str(info.value)
    assert retries == []
    assert isinstance(ArraylakeConnectionError("x"), ConnectionError)
    await t.aclose()


async def test_connection_refused_after_the_service_answered_is_retried(mode: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # the service has gone away (a restart)
    t = Sender(Transport(url, TOKEN, TransportSettings(timeout=5, retries=1), reached=True), mode)
    retries: list[Retry] = []
    with retry_notices(retries.append), pytest.raises(ArraylakeConnectionError) as info:
        await t.request("POST", "/orgs/x/repos", json_body={})
    assert str(info.value).startswith(f"could not reach the Arraylake service at {url}: ConnectError")
    assert [(r.method, r.url, r.attempt, r.limit, r.delay) for r in retries] == [
        ("POST", f"{url}/orgs/x/repos", 1, 1, 0.5)
    ]
    await t.aclose()


async def test_a_streamed_answer_is_retried_like_any_other_then_read_line_by_line(peer: Peer) -> None:
    path = peer.script(Reply(503, {"detail": "busy"}), Reply(200, raw=b"one\ntwo\n"))
    transport = Transport(peer.url, TOKEN, TransportSettings(timeout=10))
    async with transport.stream("GET", path, params={"tail": 2}, read_timeout=40) as response:
        assert [line async for line in response.aiter_lines()] == ["one", "two"]
    assert [s.path for s in peer.requests_to(path)] == [f"{path}?tail=2"] * 2
    missing = peer.script(Reply(404, {"detail": "no service nope"}))
    with pytest.raises(ArraylakeNotFoundError, match="no service nope"):
        async with transport.stream("GET", missing):
            pass
    await transport.aclose()


# ------------------------------------------------------------------------------------ error responses


async def test_404_carries_the_detail_and_request_id(peer: Peer, mode: str) -> None:
    path = peer.script(
        Reply(
            404, {"detail": "repo my-org/nope not found", "request_id": "abc123"}, {"x-request-id": "abc123"}
        )
    )
    t = sender(mode, peer, max_retries=2)
    with pytest.raises(ArraylakeNotFoundError) as info:
        await t.get_json(path)
    error = info.value
    assert str(error) == f"repo my-org/nope not found (HTTP 404 on GET {path}) [request-id: abc123]"
    assert error.status_code == 404 and error.detail == "repo my-org/nope not found"
    assert error.request_id == "abc123"
    assert isinstance(error, ArraylakeClientError) and isinstance(error, ValueError)
    assert len(peer.requests_to(path)) == 1  # 4xx is never retried
    await t.aclose()


async def test_error_without_request_id_has_no_request_id_suffix(peer: Peer, mode: str) -> None:
    path = peer.script(Reply(404, {"detail": "gone"}))
    t = sender(mode, peer)
    with pytest.raises(ArraylakeNotFoundError) as info:
        await t.get_json(path)
    assert "request-id" not in str(info.value) and info.value.request_id is None
    await t.aclose()


async def test_422_with_fastapi_detail_list_is_readable(peer: Peer, mode: str) -> None:
    detail = [
        {
            "loc": ["body", "name"],
            "msg": "String should have at least 2 characters",
            "type": "string_too_short",
        },
        {
            "loc": ["query", "page"],
            "msg": "Input should be greater than or equal to 1",
            "type": "greater_than_equal",
        },
        {"loc": ["body"], "msg": "Field required", "type": "missing"},
    ]
    path = peer.script(Reply(422, {"detail": detail}, {"x-request-id": "req-422"}))
    t = sender(mode, peer)
    with pytest.raises(ArraylakeValidationError) as info:
        await t.request("POST", path, json_body={"name": "a"})
    message = str(info.value)
    assert message == (
        "name: String should have at least 2 characters; "
        "query.page: Input should be greater than or equal to 1; "
        f"Field required (HTTP 422 on POST {path}) [request-id: req-422]"
    )
    assert info.value.detail == detail
    await t.aclose()


async def test_409_is_a_conflict(peer: Peer, mode: str) -> None:
    path = peer.script(Reply(409, {"detail": "repo my-org/r already exists"}))
    t = sender(mode, peer)
    with pytest.raises(ArraylakeConflictError, match="repo my-org/r already exists"):
        await t.request("POST", path, json_body={"name": "r"})
    await t.aclose()


async def test_401_is_an_authentication_error(peer: Peer, mode: str) -> None:
    path = peer.script(Reply(401, {"detail": "invalid API token"}, {"www-authenticate": "Bearer"}))
    t = sender(mode, peer)
    with pytest.raises(ArraylakeAuthenticationError, match="invalid API token"):
        await t.get_json(path)
    await t.aclose()


@pytest.mark.parametrize("raw", [b"plain text failure", b"", b'["a", "b"]', b'{"message": "no"}'])
async def test_errors_without_a_json_detail_are_not_the_service(peer: Peer, raw: bytes, mode: str) -> None:
    path = peer.script(Reply(418, raw=raw))
    t = sender(mode, peer)
    with pytest.raises(NotArraylakeServiceError) as info:
        await t.get_json(path)
    assert (
        str(info.value)
        == f"{peer.url} does not look like an Arraylake service (answered 418 application/json)"
    )
    await t.aclose()


def test_odd_error_bodies_are_still_described_when_checked_alone() -> None:
    request = httpx.Request("GET", "http://x/y")
    for raw, expected in [
        (b"plain text failure", "plain text failure"),
        (b"", "I'm a teapot"),
        (b'["a", "b"]', "a; b"),
    ]:
        with pytest.raises(ArraylakeClientError, match=re.escape(f"{expected} (HTTP 418 on GET /y)")):
            raise_for_status(httpx.Response(418, content=raw, request=request))


# ------------------------------------------------------------------------------------------- requests


async def test_authorization_header_is_a_bearer_token(peer: Peer, mode: str) -> None:
    path = peer.script(Reply(200, {}))
    t = sender(mode, peer)
    await t.get_json(path)
    (seen,) = peer.requests_to(path)
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.headers["accept"] == "application/json"
    assert seen.headers["user-agent"].startswith("arraylake-open/")
    await t.aclose()


async def test_no_token_no_authorization_header(peer: Peer, mode: str) -> None:
    path = peer.script(Reply(200, {}))
    t = Sender(Transport(peer.url, None, TransportSettings(timeout=10)), mode)
    await t.get_json(path)
    (seen,) = peer.requests_to(path)
    assert "authorization" not in seen.headers
    await t.aclose()


async def test_json_bodies_are_sent_as_application_json(peer: Peer, mode: str) -> None:
    path = peer.script(Reply(201, {"ok": True}))
    t = sender(mode, peer)
    payload = {"name": "repo", "metadata": {"k": [1, 2.5, None, True]}, "unicode": "é"}
    await t.request("POST", path, json_body=payload)
    (seen,) = peer.requests_to(path)
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == payload
    await t.aclose()


async def test_requests_without_body_send_no_content_type(peer: Peer, mode: str) -> None:
    path = peer.script(Reply(200, {}))
    t = sender(mode, peer)
    await t.request("DELETE", path, params={"immediate": "true"})
    (seen,) = peer.requests_to(path)
    assert "content-type" not in seen.headers and seen.body == b""
    assert seen.path == f"{path}?immediate=true"
    await t.aclose()


def test_service_uri_must_be_http() -> None:
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        Transport("ftp://example.com", TOKEN)
    assert Transport("http://example.com/", TOKEN).service_uri == "http://example.com"


def test_http_errors_are_value_errors() -> None:
    # the hosted client's callers catch ValueError
    assert issubclass(ArraylakeHttpError, ValueError)


# Dask's forked workers do exactly this; the warning is about fork() in general.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_the_blocking_path_keeps_its_connection_and_a_forked_child_opens_its_own(peer: Peer) -> None:
    path = peer.script(Reply(200, {"ok": True}))
    t = Transport(peer.url, TOKEN, TransportSettings(timeout=10))
    t.request_blocking("GET", path)
    t.request_blocking("GET", path)
    child = multiprocessing.get_context("fork").Process(target=t.request_blocking, args=("GET", path))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    t.request_blocking("GET", path)  # the parent's connection survived the child
    first, second, in_child, last = (seen.port for seen in peer.requests_to(path))
    assert first == second == last != in_child


def test_the_credentials_provider_icechunk_calls_retries_through_the_transport(peer: Peer) -> None:
    expiration = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {
        "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": "secret",
        "aws_session_token": "session",
        "expiration": expiration,
    }
    path = peer.script(Reply(503, {"detail": "the catalog database is unavailable"}), Reply(200, body))
    provider = ServiceCredentials(peer.url, path, "write", TOKEN)
    credentials = provider()
    assert isinstance(credentials, icechunk.S3StaticCredentials)
    assert credentials.access_key_id == "AKIDEXAMPLE" and credentials.session_token == "session"
    first, second = peer.requests_to(path)
    assert second.path == f"{path}?access=write" and second.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.port == second.port  # the retry reused the connection
