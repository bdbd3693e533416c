"""AWS's trust-policy check on ``sts:ExternalId``, in front of SeaweedFS's STS.

SeaweedFS enforces roles, session policies and expiry, but does not evaluate an ``sts:ExternalId``
condition in a role's trust policy (4.x refuses every ``AssumeRole`` of such a role, whatever id is sent).
This stand-in does what AWS does with ``{"Condition": {"StringEquals": {"sts:ExternalId": ID}}}``: an
``AssumeRole`` of a guarded role without that id is denied; everything else is passed, byte for byte and
with its signature, to SeaweedFS.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx

DENIED = (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    "<Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message>"
    "</Error><RequestId>stand-in</RequestId></ErrorResponse>"
)


class TrustPolicySts:
    """An STS endpoint on 127.0.0.1 whose roles in ``required_external_ids`` need that external id."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.required_external_ids: dict[str, str] = {}
        self.seen: list[dict[str, str]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                stand_in.seen.append(form)
                required = stand_in.required_external_ids.get(form.get("RoleArn", ""))
                if form.get("Action") == "AssumeRole" and required and form.get("ExternalId") != required:
                    self._answer(403, DENIED.encode(), "text/xml")
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
                forwarded = httpx.post(stand_in.upstream + self.path, content=body, headers=headers)
                self._answer(forwarded.status_code, forwarded.content, forwarded.headers.get("content-type"))

            def _answer(self, status: int, body: bytes, content_type: str | None) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type or "text/xml")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TrustPolicySts:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
