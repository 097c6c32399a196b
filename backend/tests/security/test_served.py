"""The service as `python -m backend` serves it (real uvicorn on loopback): no server header, the
client address not taken from X-Forwarded-For unless the proxy is trusted, and a bounded number of
connections served at once (issue 13, items 10, 14 and 15)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from backend.tests.conftest import ADMIN_TOKEN
from backend.tests.process import REPO_ROOT, free_port


@contextmanager
def served(tmp_path: Path, sqlite_url: str, **env: str) -> Iterator[tuple[str, Path]]:
    port = free_port()
    audit = tmp_path / "audit.log"
    variables = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "QT_ADMIN_TOKEN": ADMIN_TOKEN,
        "QT_PORT": str(port),
        "DATABASE_URL": sqlite_url,
        "QT_ADMIN_AUDIT_PATH": str(audit),
        "QT_TRADES_LOG_PATH": str(tmp_path / "trades.log"),
        "QT_RISK_STATE_DB": str(tmp_path / "risk.db"),
        "QT_MODEL_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
        "QT_MODEL_AUTO_TRAIN": "0",
        "QUANTUM_TRADER_DISABLE_SCHEDULER": "1",
        **env,
    }
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "backend"], cwd=REPO_ROOT, env=variables, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        yield url, audit
    finally:
        proc.terminate()
        proc.wait(30)


def test_no_server_header_and_forwarded_for_is_not_trusted_by_default(tmp_path: Path, sqlite_url: str) -> None:
    with served(tmp_path, sqlite_url) as (url, audit):
        response = httpx.get(f"{url}/health")
        assert "server" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        httpx.get(f"{url}/risk", headers={"X-Forwarded-For": "6.6.6.6, 1.2.3.4"})
        line = json.loads(audit.read_text().splitlines()[0])
        assert line["client"] == "127.0.0.1"


def test_forwarded_for_is_used_from_a_trusted_proxy(tmp_path: Path, sqlite_url: str) -> None:
    with served(tmp_path, sqlite_url, QT_FORWARDED_ALLOW_IPS="127.0.0.1") as (url, audit):
        httpx.get(f"{url}/risk", headers={"X-Forwarded-For": "6.6.6.6, 1.2.3.4"})
        assert json.loads(audit.read_text().splitlines()[0])["client"] == "1.2.3.4"


def test_connections_beyond_the_limit_get_503_and_the_service_recovers(tmp_path: Path, sqlite_url: str) -> None:
    slow = {"QT_LIMIT_CONCURRENCY": "5", "QT_HEADER_READ_TIMEOUT_SECONDS": "600"}  # the sockets outlive the test
    with served(tmp_path, sqlite_url, **slow) as (url, _audit), ExitStack() as stack:
        port = int(url.rsplit(":", 1)[1])
        for _ in range(20):  # half-sent headers, held open
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        assert httpx.get(f"{url}/health", timeout=10).status_code == 503
    with served(tmp_path, sqlite_url, QT_LIMIT_CONCURRENCY="5") as (url, _audit):
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the test never closes it first)."""
    sock.settimeout(120)  # a bound for a hung test only; the server closes after its 1 s deadline
    received = b""
    while chunk := sock.recv(4096):
        received += chunk
    return received


def test_half_sent_heads_are_closed_after_the_deadline_while_the_service_answers(
    tmp_path: Path, sqlite_url: str
) -> None:
    with served(tmp_path, sqlite_url, QT_HEADER_READ_TIMEOUT_SECONDS="1") as (url, _audit), ExitStack() as stack:
        port = int(url.rsplit(":", 1)[1])
        stalled = []
        for n in range(60):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
            if n % 3 == 0:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # half a header
            elif n % 3 == 1:
                sock.sendall(b"GET /heal")  # half a request line
            # else: connected, nothing sent
            stalled.append(sock)
        # a keep-alive connection that served one request, then starts a head and stalls
        keep = stack.enter_context(socket.create_connection(("127.0.0.1", port)))
        keep.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        keep.settimeout(60)
        first = keep.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
        keep.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-")
        stalled.append(keep)
        # meanwhile the service answers
        with httpx.Client(timeout=30) as client:
            for _ in range(5):
                assert client.get(f"{url}/health").status_code == 200
        for sock in stalled:
            answer = _read_until_closed(sock)
            if sock is keep:  # the rest of the first answer, then the 408
                answer = (first + answer).rsplit(b"HTTP/1.1 ", 1)[1]
                answer = b"HTTP/1.1 " + answer
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert answer.endswith(b"request head not completed\n")
        assert httpx.get(f"{url}/health", timeout=30).status_code == 200
    log = (tmp_path / "server.log").read_text()
    assert log.count("request head not completed in time") == len(stalled)
