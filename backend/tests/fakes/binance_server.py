"""A local server speaking Binance's spot REST protocol over loopback, serving a simulated market.

Used by the tests of the `binance` market source and (extended with account and order endpoints)
of the Binance exchange adapter. Routes live in a table: another module adds its endpoints with
``server.add_route("POST", "/api/v3/order", handler, signed=True, weight=1)``; a handler takes
``(server, request)`` and returns JSON-able data or raises ``BinanceAPIError``. The public market
endpoints are in binance_market_routes.py, their JSON shapes in binance_shapes.py.

What it checks like Binance does: the API key header and the HMAC-SHA256 signature of signed
endpoints (over query string + body, signature excluded), ``timestamp`` against ``recvWindow``
(-1021), mandatory parameters (-1102), unknown symbols (-1121) and intervals (-1120). It counts
request weight per minute and returns it in ``X-MBX-USED-WEIGHT-1M``.

Switchable faults (``server.faults``, binance_http_faults.py): 5xx answers, stalls (client
timeouts), 429/418 with ``Retry-After``, -1021 timestamp errors and clock skew, each for the next N
matching requests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from backend.market.source import to_ms
from backend.market.sources.simulated import SimulatedMarket
from backend.tests.fakes.binance_http_faults import MALFORMED, Faults
from backend.tests.fakes.binance_http_faults import answer as answer_fault
from backend.tests.fakes.binance_market_routes import register_market_routes
from backend.tests.fakes.binance_protocol import BinanceAPIError, FakeRequest, Handler, Route

# the request and error types are part of this module's interface (handlers raise BinanceAPIError)
__all__ = ["BinanceAPIError", "FakeBinance", "FakeRequest", "Handler", "running_fake_binance"]


class FakeBinance:
    """The server: a route table, faults, weight accounting and a ThreadingHTTPServer on 127.0.0.1."""

    def __init__(
        self,
        market: SimulatedMarket,
        *,
        api_key: str = "fake-api-key",
        api_secret: str = "fake-api-secret",  # noqa: S107  (a test server's made-up key)
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.market = market
        self.api_key = api_key
        self.api_secret = api_secret
        self.clock = clock or (lambda: datetime.now(UTC))
        self.faults = Faults()
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[FakeRequest] = []
        self.weight_offset = 0  # weight used by "other clients" this minute
        self._weight_minute = -1
        self._weight_used = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        register_market_routes(self)

    # -------------------------------------------------------------------- routes
    def add_route(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        signed: bool = False,
        weight: int | Callable[[FakeRequest], int] = 1,
    ) -> None:
        self.routes[(method.upper(), path)] = Route(handler, signed, weight)

    # -------------------------------------------------------------------- lifecycle
    def start(self) -> str:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return None

            def _serve(self) -> None:
                server._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self._release.clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-binance", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def server_time_ms(self) -> int:
        return to_ms(self.clock()) + self.faults.clock_skew_ms

    def used_weight(self) -> int:
        with self._lock:
            return self._weight_used + self.weight_offset

    # -------------------------------------------------------------------- request handling
    def _add_weight(self, cost: int) -> int:
        minute = int(time.time()) // 60
        with self._lock:
            if minute != self._weight_minute:
                self._weight_minute, self._weight_used = minute, 0
            self._weight_used += cost
            return self._weight_used + self.weight_offset

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        split = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length).decode() if length else ""
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        request = FakeRequest(
            method=http.command,
            path=split.path,
            query=split.query,
            body=body,
            headers={k.lower(): v for k, v in http.headers.items()},
            params=params,
        )
        self.requests.append(request)
        status: int = 200
        payload: Any = None
        headers: dict[str, str] = {}
        try:
            payload = self._dispatch(request, headers)
        except BinanceAPIError as exc:
            status, payload = exc.status, {"code": exc.code, "msg": exc.msg}
            headers.update(exc.headers)
        except Exception as exc:  # a bug in a handler: answer like Binance's internal error
            status, payload = 500, {"code": -1000, "msg": f"An unknown error occurred: {exc!r}"}
        data = (
            b'{"symbol": "BTCUSDT", "orderId": '
            if payload is MALFORMED
            else json.dumps(payload, separators=(",", ":")).encode()
        )
        try:
            http.send_response(status)
            http.send_header("Content-Type", "application/json;charset=UTF-8")
            http.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                http.send_header(key, value)
            http.end_headers()
            http.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            return

    def _dispatch(self, request: FakeRequest, headers: dict[str, str]) -> Any:
        route = self.routes.get((request.method, request.path))
        if route is None:
            raise BinanceAPIError(404, -1000, f"Unknown endpoint {request.method} {request.path}")
        used = self._add_weight(route.cost(request))
        headers["X-MBX-USED-WEIGHT-1M"] = str(used)
        headers["X-MBX-USED-WEIGHT"] = str(used)
        fault = self.faults.take(request.path)
        if fault is not None and answer_fault(fault, self._release) is MALFORMED:
            return MALFORMED
        if route.signed:
            self._check_signed(request)
        return route.handler(self, request)

    def _check_signed(self, request: FakeRequest) -> None:
        key = request.headers.get("x-mbx-apikey")
        if not key:
            raise BinanceAPIError(401, -2014, "API-key format invalid.")
        if key != self.api_key:
            raise BinanceAPIError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature = request.params.get("signature")
        if not signature:
            raise BinanceAPIError(
                400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        payload = _without_signature(request.query) + _without_signature(request.body)
        expected = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise BinanceAPIError(400, -1022, "Signature for this request is not valid.")
        timestamp = int(request.require("timestamp"))
        recv_window = int(request.params.get("recvWindow", "5000"))
        if recv_window > 60_000:
            raise BinanceAPIError(400, -1131, "recvWindow must be less than 60000")
        server_ms = self.server_time_ms()
        if timestamp >= server_ms + 1000 or server_ms - timestamp > recv_window:
            raise BinanceAPIError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def _without_signature(raw: str) -> str:
    return "&".join(part for part in raw.split("&") if part and not part.startswith("signature="))


@contextmanager
def running_fake_binance(market: SimulatedMarket, **kwargs: Any) -> Iterator[FakeBinance]:
    """Start a FakeBinance on an ephemeral loopback port; stopped (stalls released) on exit."""
    server = FakeBinance(market, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()
