"""A local server speaking Binance's spot REST protocol over loopback, serving a simulated market.

Used by the tests of the `binance` market source and (extended with account and order endpoints)
of the Binance exchange adapter. Routes live in a table: another module adds its endpoints with
``server.add_route("POST", "/api/v3/order", handler, signed=True, weight=1)``; a handler takes
``(server, request)`` and returns JSON-able data or raises ``BinanceAPIError``.

What it checks like Binance does: the API key header and the HMAC-SHA256 signature of signed
endpoints (over query string + body, signature excluded), ``timestamp`` against ``recvWindow``
(-1021), mandatory parameters (-1102), unknown symbols (-1121) and intervals (-1120). It counts
request weight per minute and returns it in ``X-MBX-USED-WEIGHT-1M``.

Switchable faults (``server.faults``): 5xx answers, stalls (client timeouts), 429/418 with
``Retry-After``, -1021 timestamp errors and clock skew, each for the next N matching requests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from backend.market.source import INTERVAL_SECONDS, from_ms, to_ms
from backend.market.sources.simulated import SimulatedMarket
from backend.market.types import BookTop, Kline, SymbolRules, Ticker24h

_MALFORMED = object()  # marker: answer with a truncated, non-JSON body


class BinanceAPIError(Exception):
    """An error answer in Binance's shape: HTTP status plus {"code": .., "msg": ..}."""

    def __init__(self, status: int, code: int, msg: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.headers = headers or {}


@dataclass
class FakeRequest:
    method: str
    path: str
    query: str
    body: str
    headers: dict[str, str]
    params: dict[str, str]  # query and form body merged

    def require(self, name: str) -> str:
        value = self.params.get(name)
        if value is None or value == "":
            raise BinanceAPIError(
                400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
            )
        return value


Handler = Callable[["FakeBinance", FakeRequest], Any]


@dataclass
class Route:
    handler: Handler
    signed: bool = False
    weight: int | Callable[[FakeRequest], int] = 1

    def cost(self, request: FakeRequest) -> int:
        return self.weight(request) if callable(self.weight) else self.weight


@dataclass
class Fault:
    kind: str  # "status" | "stall" | "rate_limit" | "timestamp" | "error" | "malformed"
    remaining: int
    path: str | None = None  # None: any path
    status: int = 500
    retry_after: int = 0
    code: int = 0
    msg: str = ""


@dataclass
class Faults:
    """Faults applied to the next matching requests, in the order they were planned."""

    planned: list[Fault] = field(default_factory=list)
    clock_skew_ms: int = 0  # added to the server clock (a skew > recvWindow gives -1021)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, status: int = 503, times: int = 1, path: str | None = None) -> None:
        self._plan(Fault("status", times, path, status=status))

    def stall(self, times: int = 1, path: str | None = None) -> None:
        """Hold the answer until the server stops (the client times out)."""
        self._plan(Fault("stall", times, path))

    def rate_limit(self, status: int = 429, retry_after: int = 30, times: int = 1, path: str | None = None) -> None:
        self._plan(Fault("rate_limit", times, path, status=status, retry_after=retry_after))

    def timestamp_error(self, times: int = 1, path: str | None = None) -> None:
        self._plan(Fault("timestamp", times, path, status=400))

    def error(self, code: int, msg: str, status: int = 400, times: int = 1, path: str | None = None) -> None:
        """Answer with one of Binance's error payloads, e.g. -1013 "Filter failure: LOT_SIZE"."""
        self._plan(Fault("error", times, path, status=status, code=code, msg=msg))

    def malformed(self, times: int = 1, path: str | None = None) -> None:
        """Answer 200 with a body that is not JSON (a broken proxy, a truncated response)."""
        self._plan(Fault("malformed", times, path, status=200))

    def clear(self) -> None:
        with self.lock:
            self.planned.clear()
            self.clock_skew_ms = 0

    def _plan(self, fault: Fault) -> None:
        with self.lock:
            self.planned.append(fault)

    def take(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.planned:
                if fault.path is None or fault.path == path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self.planned.remove(fault)
                    return fault
        return None


def _dec(value: Decimal) -> str:
    """Binance prints 8 decimals."""
    return f"{value:.8f}"


# ------------------------------------------------------------------------------ JSON shapes
def symbol_json(rules: SymbolRules) -> dict[str, Any]:
    """One exchangeInfo symbol entry in Binance's documented shape."""
    return {
        "symbol": rules.symbol,
        "status": rules.status,
        "baseAsset": rules.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": rules.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": rules.spot_allowed,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": _dec(rules.min_price),
                "maxPrice": _dec(rules.max_price),
                "tickSize": _dec(rules.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": _dec(rules.min_qty),
                "maxQty": _dec(rules.max_qty),
                "stepSize": _dec(rules.step_size),
            },
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": _dec(rules.market_min_qty),
                "maxQty": _dec(rules.market_max_qty),
                "stepSize": _dec(rules.market_step_size),
            },
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000},
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": str(rules.bid_multiplier_up),
                "bidMultiplierDown": str(rules.bid_multiplier_down),
                "askMultiplierUp": str(rules.ask_multiplier_up),
                "askMultiplierDown": str(rules.ask_multiplier_down),
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": _dec(rules.min_notional),
                "applyMinToMarket": rules.min_notional_applies_to_market,
                "maxNotional": _dec(rules.max_notional),
                "applyMaxToMarket": rules.max_notional_applies_to_market,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def exchange_info_json(rules: list[SymbolRules], server_time_ms: int) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ],
        "exchangeFilters": [],
        "symbols": [symbol_json(r) for r in rules],
    }


def ticker_json(t: Ticker24h) -> dict[str, Any]:
    close_ms = to_ms(t.close_time)
    change = t.last_price - t.open_price
    weighted = t.quote_volume / t.volume if t.volume > 0 else t.last_price
    return {
        "symbol": t.symbol,
        "priceChange": _dec(change),
        "priceChangePercent": f"{t.price_change_pct:.3f}",
        "weightedAvgPrice": _dec(weighted),
        "prevClosePrice": _dec(t.open_price),
        "lastPrice": _dec(t.last_price),
        "lastQty": "0.00100000",
        "bidPrice": _dec(t.last_price),
        "bidQty": "1.00000000",
        "askPrice": _dec(t.last_price),
        "askQty": "1.00000000",
        "openPrice": _dec(t.open_price),
        "highPrice": _dec(t.high_price),
        "lowPrice": _dec(t.low_price),
        "volume": _dec(t.volume),
        "quoteVolume": _dec(t.quote_volume),
        "openTime": close_ms - 86_400_000 + 1,
        "closeTime": close_ms,
        "firstId": 1,
        "lastId": t.trade_count,
        "count": t.trade_count,
    }


def book_ticker_json(b: BookTop) -> dict[str, Any]:
    return {
        "symbol": b.symbol,
        "bidPrice": _dec(b.bid_price),
        "bidQty": _dec(b.bid_qty),
        "askPrice": _dec(b.ask_price),
        "askQty": _dec(b.ask_qty),
    }


def kline_json(k: Kline) -> list[Any]:
    return [
        to_ms(k.open_time),
        _dec(k.open),
        _dec(k.high),
        _dec(k.low),
        _dec(k.close),
        _dec(k.volume),
        to_ms(k.close_time),
        _dec(k.quote_volume),
        k.trade_count,
        _dec(k.volume / 2),
        _dec(k.quote_volume / 2),
        "0",
    ]


def _depth_weight(request: FakeRequest) -> int:
    limit = int(request.params.get("limit", "100"))
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def _symbols_param(request: FakeRequest) -> list[str] | None:
    if "symbol" in request.params:
        return [request.params["symbol"]]
    if "symbols" in request.params:
        try:
            value = json.loads(request.params["symbols"])
        except ValueError:
            raise BinanceAPIError(400, -1100, "Illegal characters found in parameter 'symbols'.") from None
        return [str(v) for v in value]
    return None


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
        status, payload, headers = 200, None, {}
        try:
            payload = self._dispatch(request, headers)
        except BinanceAPIError as exc:
            status, payload = exc.status, {"code": exc.code, "msg": exc.msg}
            headers.update(exc.headers)
        except Exception as exc:  # a bug in a handler: answer like Binance's internal error
            status, payload = 500, {"code": -1000, "msg": f"An unknown error occurred: {exc!r}"}
        data = (
            b'{"symbol": "BTCUSDT", "orderId": '
            if payload is _MALFORMED
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
        if fault is not None:
            if fault.kind == "stall":
                self._release.wait(timeout=30)
                raise BinanceAPIError(503, -1001, "Internal error; unable to process your request. Please try again.")
            if fault.kind == "status":
                raise BinanceAPIError(fault.status, -1001, "Internal error; unable to process your request.")
            if fault.kind == "rate_limit":
                msg = (
                    "Way too many requests; IP(127.0.0.1) banned until further notice."
                    if fault.status == 418
                    else "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute."
                )
                raise BinanceAPIError(fault.status, -1003, msg, {"Retry-After": str(fault.retry_after)})
            if fault.kind == "timestamp":
                raise BinanceAPIError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
            if fault.kind == "error":
                raise BinanceAPIError(fault.status, fault.code, fault.msg)
            if fault.kind == "malformed":
                return _MALFORMED
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


# ------------------------------------------------------------------------------ market endpoints
def _known(server: FakeBinance, symbol: str) -> str:
    if symbol not in server.market.symbols:
        raise BinanceAPIError(400, -1121, "Invalid symbol.")
    return symbol


def _ping(server: FakeBinance, request: FakeRequest) -> Any:
    return {}


def _time(server: FakeBinance, request: FakeRequest) -> Any:
    return {"serverTime": server.server_time_ms()}


def _exchange_info(server: FakeBinance, request: FakeRequest) -> Any:
    rules = server.market.symbol_rules()
    wanted = _symbols_param(request)
    if wanted is not None:
        rules = {s: rules[_known(server, s)] for s in wanted}
    return exchange_info_json(list(rules.values()), server.server_time_ms())


def _ticker_24hr(server: FakeBinance, request: FakeRequest) -> Any:
    wanted = _symbols_param(request)
    tickers = server.market.tickers_24h()
    if wanted is None:
        return [ticker_json(t) for t in tickers.values()]
    items = [ticker_json(tickers[_known(server, s)]) for s in wanted]
    return items[0] if "symbol" in request.params else items


def _ticker_weight(request: FakeRequest) -> int:
    wanted = _symbols_param(request)
    if wanted is None:
        return 80
    return 2 if len(wanted) <= 20 else 40


def _book_ticker(server: FakeBinance, request: FakeRequest) -> Any:
    wanted = _symbols_param(request)
    tops = server.market.book_tops()
    if wanted is None:
        return [book_ticker_json(t) for t in tops.values()]
    items = [book_ticker_json(tops[_known(server, s)]) for s in wanted]
    return items[0] if "symbol" in request.params else items


def _klines(server: FakeBinance, request: FakeRequest) -> Any:
    symbol = _known(server, request.require("symbol"))
    interval = request.require("interval")
    if interval not in INTERVAL_SECONDS:
        raise BinanceAPIError(400, -1120, "Invalid interval.")
    limit = int(request.params.get("limit", "500"))
    if not 1 <= limit <= 1000:
        raise BinanceAPIError(400, -1130, "Invalid data sent for a parameter.")
    start = from_ms(int(request.params["startTime"])) if "startTime" in request.params else None
    end = from_ms(int(request.params["endTime"])) if "endTime" in request.params else None
    return [kline_json(k) for k in server.market.klines(symbol, interval, start, end, limit)]


def _depth(server: FakeBinance, request: FakeRequest) -> Any:
    symbol = _known(server, request.require("symbol"))
    limit = min(int(request.params.get("limit", "100")), 5000)
    book = server.market.order_book(symbol, limit)
    return {
        "lastUpdateId": int(book.time.timestamp()),
        "bids": [[_dec(level.price), _dec(level.qty)] for level in book.bids],
        "asks": [[_dec(level.price), _dec(level.qty)] for level in book.asks],
    }


def register_market_routes(server: FakeBinance) -> None:
    """The public market endpoints (the execution tests add account and order routes the same way)."""
    server.add_route("GET", "/api/v3/ping", _ping, weight=1)
    server.add_route("GET", "/api/v3/time", _time, weight=1)
    server.add_route("GET", "/api/v3/exchangeInfo", _exchange_info, weight=20)
    server.add_route("GET", "/api/v3/ticker/24hr", _ticker_24hr, weight=_ticker_weight)
    server.add_route("GET", "/api/v3/ticker/bookTicker", _book_ticker, weight=lambda r: 2 if _symbols_param(r) else 4)
    server.add_route("GET", "/api/v3/klines", _klines, weight=2)
    server.add_route("GET", "/api/v3/depth", _depth, weight=_depth_weight)


@contextmanager
def running_fake_binance(market: SimulatedMarket, **kwargs: Any) -> Iterator[FakeBinance]:
    """Start a FakeBinance on an ephemeral loopback port; stopped (stalls released) on exit."""
    server = FakeBinance(market, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop()
