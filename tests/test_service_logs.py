"""The service's log: every record (structlog's, uvicorn's, an unhandled error's) is one JSON line."""

from __future__ import annotations

import json
import socket

import httpx

from arraylake.server import faults
from tests.support.service import ArraylakeService


def _records(text: str) -> list[dict]:
    records = []
    for line in text.splitlines():
        assert line.strip(), "an empty line in the log"
        record = json.loads(line)  # fails on any line that is not JSON
        assert isinstance(record, dict), line
        records.append(record)
    return records


def test_every_log_record_is_one_json_line(fresh_service: ArraylakeService) -> None:
    fresh_service.start(extra_env={"ARRAYLAKE_SERVER_FAULT_INJECTION": faults.CREATE_FAILS})
    org = fresh_service.new_org()
    with httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}) as http:
        failed = http.post(
            f"/orgs/{org.name}/repos", json={"name": "boom"}, headers={"x-request-id": "req-fault-1"}
        )
        assert failed.status_code == 500
        assert failed.json()["request_id"] == "req-fault-1"
        assert "fault injection" not in failed.text  # the cause stays in the log
        port = failed.extensions["network_stream"].get_extra_info("client_addr")[1]
        after = http.get("/")  # on the same connection: the failure did not close it
        assert after.status_code == 200
        assert after.extensions["network_stream"].get_extra_info("client_addr")[1] == port
    with socket.create_connection(("127.0.0.1", fresh_service.port), timeout=10) as raw:
        raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")  # uvicorn itself answers 400 and logs a warning
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    fresh_service.stop()

    text = fresh_service.log_text()
    assert "Logging error" not in text
    records = _records(text)
    assert all({"event", "level", "timestamp"} <= record.keys() for record in records)

    uvicorn_lines = [r for r in records if r.get("logger", "").startswith("uvicorn")]
    assert [r["event"] for r in uvicorn_lines] == ["Invalid HTTP request received."], uvicorn_lines
    assert uvicorn_lines[0]["level"] == "warning"
    assert [r.get("event") for r in records].count("service ready") == 1
    assert "Ready" in fresh_service.output_text()  # the lines for people are on standard output

    failures = [r for r in records if "InjectedFault" in r.get("exception", "")]
    assert len(failures) == 1, "the unhandled error is logged once"
    (failure,) = failures
    assert failure["event"] == "unexpected error" and failure["level"] == "error"
    assert failure["request_id"] == "req-fault-1"
    assert "Traceback" in failure["exception"]
    assert "fault injection: failing at create:fails" in failure["exception"]

    requests = [r for r in records if r.get("event") == "request" and r.get("request_id") == "req-fault-1"]
    assert [r["status"] for r in requests] == [500]
    assert org.token not in text
