"""The request-head deadline (issue 13, item 14) in both of uvicorn's HTTP protocols, on a real
uvicorn server on loopback: stalled heads get 408 and are closed, idle new connections too, while
complete requests, pipelined ones and a request slower than the deadline are served."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from backend.http_protocol import H11HeadDeadline, HttpToolsHeadDeadline

DEADLINE = 0.5


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["path"] == "/slow":  # slower than the deadline: the head was complete, so it is served
        await asyncio.sleep(DEADLINE * 3)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=[HttpToolsHeadDeadline, H11HeadDeadline], ids=["httptools", "h11"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    protocol = type("Protocol", (request.param,), {"head_timeout_seconds": DEADLINE})
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, http=protocol, lifespan="off", log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(30)


def _until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(60)  # bounds a hung test only; the server closes after DEADLINE
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


@pytest.mark.parametrize(
    "sent",
    [b"", b"GE", b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: abc"],
    ids=["nothing", "half-request-line", "request-line", "half-header"],
)
def test_a_head_not_completed_in_time_gets_408_and_is_closed(port: int, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(sent)
        answer = _until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert answer.endswith(b"request head not completed\n")


def test_the_next_head_on_a_keep_alive_connection_has_the_same_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nX-")
        answer = _until_closed(sock)
    first, _, rest = answer.partition(b"ok")
    assert first.startswith(b"HTTP/1.1 200"), answer
    assert rest.startswith(b"HTTP/1.1 408 "), answer


def test_complete_pipelined_and_slow_requests_are_served(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = _until_closed(sock)
    assert answer.count(b"HTTP/1.1 200 OK") == 3, answer
    assert b"408" not in answer
