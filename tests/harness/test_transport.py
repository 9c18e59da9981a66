from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.evidence import EvidenceLog
from harness.transport import Transport, TransportFailure


@pytest.fixture
def evidence(tmp_path: Path) -> Iterator[EvidenceLog]:
    log = EvidenceLog(tmp_path)
    yield log
    log.close()


def _transport(
    evidence: EvidenceLog, handler: httpx.MockTransport | None = None, **kwargs: float
) -> Transport:
    return Transport(httpx.Client(transport=handler), evidence, **kwargs)


def _evidence(tmp_path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (tmp_path / "evidence.jsonl").read_text().splitlines()]


def test_an_exchange_is_recorded_with_personal_data_redacted(
    tmp_path: Path, evidence: EvidenceLog
) -> None:
    answer = {"pin": "001203012345", "full_name": "Lê Thị Hoa"}
    transport = _transport(
        evidence, httpx.MockTransport(lambda r: httpx.Response(200, json=answer))
    )
    reply = transport.request(
        "demo",
        "POST",
        "http://agency.test/x",
        json={"pin": "001203012345"},
        headers={"Authorization": "Bearer secret"},
    )
    assert reply.status == 200 and reply.json() == answer
    transport.evidence.close()
    (record,) = _evidence(tmp_path)
    text = json.dumps(record, ensure_ascii=False)
    assert record["id"] == reply.exchange_id and record["check"] == "demo"
    assert "001203012345" not in text and "Lê Thị Hoa" not in text and "secret" not in text


def test_a_huge_body_is_cut_at_the_limit(evidence: EvidenceLog) -> None:
    huge = httpx.MockTransport(lambda r: httpx.Response(200, content=b"x" * 5_000_000))
    reply = _transport(evidence, huge, max_body_bytes=1000).request("c", "GET", "http://a.test/")
    assert len(reply.response.content) == 1000
    assert reply.json() is None  # hostile bytes never raise


def _closing_once(error: httpx.TransportError) -> tuple[httpx.MockTransport, list[str]]:
    """A server that drops the first request's connection unanswered, then answers."""
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if len(seen) == 1:
            raise error
        return httpx.Response(200, json={"ok": True})

    return httpx.MockTransport(handle), seen


@pytest.mark.parametrize(
    "error",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
    ],
    ids=["closed", "reset"],
)
def test_a_request_on_a_connection_closed_unanswered_is_sent_once_more(
    evidence: EvidenceLog, error: httpx.TransportError
) -> None:
    handler, seen = _closing_once(error)
    reply = _transport(evidence, handler).request("c", "POST", "http://a.test/x", json={})
    assert reply.status == 200 and seen == ["/x", "/x"]


def test_other_protocol_errors_are_not_resent(evidence: EvidenceLog) -> None:
    handler, seen = _closing_once(httpx.RemoteProtocolError("illegal status line: b'garbage'"))
    with pytest.raises(TransportFailure, match="illegal status line"):
        _transport(evidence, handler).request("c", "GET", "http://a.test/x")
    assert seen == ["/x"]


def test_connection_refused_is_a_transport_failure_with_evidence(
    tmp_path: Path, evidence: EvidenceLog
) -> None:
    transport = _transport(evidence, timeout_s=2)
    with pytest.raises(TransportFailure, match="could not connect"):
        transport.request("c", "GET", "http://127.0.0.1:9/")
    transport.evidence.close()
    assert _evidence(tmp_path)[0]["error"]


@pytest.fixture
def slow_drip_server() -> Iterator[str]:
    """Answers headers at once, then one body byte every 0.2 s for a minute."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n")
            for _ in range(300):
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    stop.set()
    server.close()


def test_a_slow_drip_cannot_outlast_the_overall_deadline(
    evidence: EvidenceLog, slow_drip_server: str
) -> None:
    transport = _transport(evidence, timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(TransportFailure, match="within 1 s"):
        transport.request("c", "GET", slow_drip_server)
    assert time.monotonic() - started < 3
