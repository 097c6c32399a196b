"""The public market endpoints of the local Binance server: ping, time, exchangeInfo, tickers, klines, depth.

Each answers from the server's SimulatedMarket in Binance's shapes (binance_shapes), with Binance's
request weights and error codes (-1121 unknown symbol, -1120 unknown interval, -1130, -1100).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from backend.market.source import INTERVAL_SECONDS, from_ms
from backend.tests.fakes.binance_protocol import BinanceAPIError, FakeRequest
from backend.tests.fakes.binance_shapes import (
    book_ticker_json,
    dec,
    exchange_info_json,
    kline_json,
    ticker_json,
)

if TYPE_CHECKING:
    from backend.tests.fakes.binance_server import FakeBinance


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
        "bids": [[dec(level.price), dec(level.qty)] for level in book.bids],
        "asks": [[dec(level.price), dec(level.qty)] for level in book.asks],
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
