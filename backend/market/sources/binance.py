"""The `binance` market source: public spot endpoints through python-binance (no keys needed).

- ``QT_BINANCE_API_URL`` overrides the REST base URL ("https://api.binance.com", a mirror, a proxy
  or a local test server; a trailing "/api" is optional).
- Constructing the source makes no network call (python-binance's constructor ping is off).
- Calls block: callers run them off the event loop (MarketService does). Calls are serialised,
  because python-binance keeps the last response on the client.
- HTTP 429/418 set a back-off from ``Retry-After``: until it passes, calls fail at once with
  MarketRateLimitedError and nothing is sent. ``X-MBX-USED-WEIGHT-1M`` is tracked per minute, and
  a call whose weight would exceed ``QT_BINANCE_WEIGHT_BUDGET`` is refused (WeightBudgetExceededError)
  instead of sent.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from binance.client import BaseClient, Client
from binance.exceptions import BinanceAPIException, BinanceRequestException

from backend.market.binance_format import (
    BinanceFormatError,
    parse_book_tickers,
    parse_depth,
    parse_exchange_info,
    parse_klines,
    parse_tickers,
)
from backend.market.errors import (
    MarketDataError,
    MarketRateLimitedError,
    TemporaryMarketDataError,
    UnknownSymbolError,
    WeightBudgetExceededError,
)
from backend.market.source import floor_time, interval_seconds, to_ms
from backend.market.types import BookTop, Kline, OrderBook, SymbolRules, Ticker24h
from config.market import MarketSettings
from config.settings import Settings

DEFAULT_API_URL = "https://api.binance.com"
DEFAULT_RETRY_AFTER = 60.0

# Request weights of the endpoints used (Binance spot API documentation).
WEIGHT_EXCHANGE_INFO = 20
WEIGHT_TICKER_ALL = 80
WEIGHT_BOOK_TICKER_ALL = 4
WEIGHT_KLINES = 2
WEIGHT_TIME = 1


def depth_weight(limit: int) -> int:
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def api_url(base_url: str | None) -> str:
    """python-binance's API_URL (".../api") from the configured base URL."""
    base = (base_url or DEFAULT_API_URL).rstrip("/")
    return base if base.endswith("/api") else f"{base}/api"


class RestClient(Client):
    """python-binance's REST client, built without side effects: no ping, no stray event loop.

    Its constructor also builds websocket helpers that fetch (or create) the thread's asyncio loop;
    outside a running loop a private one is lent for the construction and closed at once (only the
    websocket helpers, which this source never uses, would touch it), so no unclosed loop is left.
    """

    def __init__(self, api_url: str, timeout: float, api_key: str | None = None, api_secret: str | None = None):
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        private = asyncio.new_event_loop() if running is None else None
        if private is not None:
            asyncio.set_event_loop(private)
        try:
            BaseClient.__init__(self, api_key, api_secret, {"timeout": timeout}, loop=running or private)
        finally:
            if private is not None:
                asyncio.set_event_loop(None)
                private.close()
        self.API_URL = api_url


class BinanceMarketSource:
    name = "binance"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = 10.0,
        weight_budget: int = 1200,
        clock: Callable[[], datetime] | None = None,
        weight_budget_provider: Callable[[], int] | None = None,
    ) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._client = RestClient(api_url(base_url), timeout)
        self._budget = weight_budget_provider or (lambda: weight_budget)
        self._lock = threading.Lock()
        self.blocked_until: datetime | None = None
        self._weight_minute: int | None = None
        self.used_weight = 0  # X-MBX-USED-WEIGHT-1M as last reported (or estimated) this minute

    @classmethod
    def from_settings(cls, settings: Settings | MarketSettings) -> BinanceMarketSource:
        """Built from the settings root or its market section (QT_BINANCE_*)."""
        market = settings.market if isinstance(settings, Settings) else settings
        return cls(
            market.binance_api_url, timeout=market.binance_timeout_seconds, weight_budget=market.binance_weight_budget
        )

    @property
    def api_url(self) -> str:
        return str(self._client.API_URL)

    # ------------------------------------------------------------------------------ plumbing
    def _minute(self) -> int:
        return int(self._clock().timestamp()) // 60

    def _request(self, endpoint: str, weight: int, call: Callable[[], Any]) -> Any:
        with self._lock:
            now = self._clock()
            if self.blocked_until is not None and now < self.blocked_until:
                wait = (self.blocked_until - now).total_seconds()
                raise MarketRateLimitedError(
                    f"binance asked to back off: {endpoint} not sent for another {wait:.0f}s", retry_after=wait
                )
            minute = self._minute()
            if minute != self._weight_minute:
                self._weight_minute, self.used_weight = minute, 0
            budget = self._budget()
            if self.used_weight + weight > budget:
                raise WeightBudgetExceededError(
                    f"binance weight budget: {endpoint} needs {weight}, {self.used_weight} of {budget} used this minute"
                )
            try:
                result = call()
            except BinanceAPIException as exc:
                self._note_weight(exc.response, weight)
                raise self._translate(endpoint, exc) from exc
            except requests.Timeout as exc:
                self.used_weight += weight
                raise TemporaryMarketDataError(f"binance {endpoint}: timed out") from exc
            except requests.RequestException as exc:
                raise TemporaryMarketDataError(f"binance {endpoint}: {type(exc).__name__}: {exc}") from exc
            except BinanceRequestException as exc:
                raise TemporaryMarketDataError(f"binance {endpoint}: {exc.message}") from exc
            self._note_weight(self._client.response, weight)
            return result

    def _note_weight(self, response: Any, weight: int) -> None:
        header = None if response is None else response.headers.get("X-MBX-USED-WEIGHT-1M")
        try:
            self.used_weight = int(header) if header is not None else self.used_weight + weight
        except ValueError:
            self.used_weight += weight

    def _translate(self, endpoint: str, exc: BinanceAPIException) -> MarketDataError:
        status = exc.status_code
        if status in (429, 418):
            header = exc.response.headers.get("Retry-After") if exc.response is not None else None
            try:
                retry_after = float(header) if header is not None else DEFAULT_RETRY_AFTER
            except ValueError:
                retry_after = DEFAULT_RETRY_AFTER
            self.blocked_until = self._clock() + timedelta(seconds=retry_after)
            what = "IP banned (418)" if status == 418 else "rate limited (429)"
            return MarketRateLimitedError(
                f"binance {endpoint}: {what}, retry after {retry_after:.0f}s",
                retry_after=retry_after,
                http_status=status,
            )
        if exc.code == -1121:
            return UnknownSymbolError(f"(binance {endpoint}: {exc.message})")  # callers name the symbol
        if status >= 500:
            return TemporaryMarketDataError(f"binance {endpoint}: HTTP {status} ({exc.code}: {exc.message})")
        return MarketDataError(f"binance {endpoint}: HTTP {status} ({exc.code}: {exc.message})")

    # ------------------------------------------------------------------------------ MarketDataSource
    def symbol_rules(self) -> dict[str, SymbolRules]:
        payload = self._request("exchangeInfo", WEIGHT_EXCHANGE_INFO, self._client.get_exchange_info)
        try:
            rules, _problems = parse_exchange_info(payload)
        except BinanceFormatError as exc:
            raise MarketDataError(f"binance exchangeInfo: {exc}") from exc
        return rules

    def tickers_24h(self) -> dict[str, Ticker24h]:
        items = self._request("ticker/24hr", WEIGHT_TICKER_ALL, self._client.get_ticker)
        try:
            return parse_tickers(items)
        except BinanceFormatError as exc:
            raise MarketDataError(f"binance ticker/24hr: {exc}") from exc

    def book_tops(self) -> dict[str, BookTop]:
        items = self._request("ticker/bookTicker", WEIGHT_BOOK_TICKER_ALL, self._client.get_orderbook_tickers)
        try:
            return parse_book_tickers(items, self._clock())
        except BinanceFormatError as exc:
            raise MarketDataError(f"binance ticker/bookTicker: {exc}") from exc

    def klines(
        self,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        interval_seconds(interval)  # ValueError for an interval Binance does not know
        params: dict[str, Any] = {"symbol": symbol, "interval": interval, "limit": min(max(limit, 1), 1000)}
        if start is not None:
            params["startTime"] = to_ms(start)
        if end is not None:
            params["endTime"] = to_ms(end)

        def call() -> Any:
            return self._client.get_klines(**params)

        try:
            rows = self._request("klines", WEIGHT_KLINES, call)
        except UnknownSymbolError:
            raise UnknownSymbolError(symbol) from None
        try:
            bars = parse_klines(symbol, interval, rows)
        except BinanceFormatError as exc:
            raise MarketDataError(f"binance klines: {exc}") from exc
        # Binance includes the bar still forming; only closed bars are market history
        open_now = floor_time(self._clock(), interval)
        return [k for k in bars if k.open_time < open_now]

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        # Binance accepts these depth limits only
        allowed = (5, 10, 20, 50, 100, 500, 1000, 5000)
        wire_limit = next((a for a in allowed if a >= limit), 5000)

        def call() -> Any:
            return self._client.get_order_book(symbol=symbol, limit=wire_limit)

        try:
            payload = self._request("depth", depth_weight(wire_limit), call)
        except UnknownSymbolError:
            raise UnknownSymbolError(symbol) from None
        try:
            book = parse_depth(symbol, payload, self._clock())
        except BinanceFormatError as exc:
            raise MarketDataError(f"binance depth: {exc}") from exc
        return OrderBook(symbol=symbol, bids=book.bids[:limit], asks=book.asks[:limit], time=book.time)

    def server_time(self) -> datetime:
        payload = self._request("time", WEIGHT_TIME, self._client.get_server_time)
        return datetime.fromtimestamp(int(payload["serverTime"]) / 1000, UTC)

    def close(self) -> None:
        self._client.close_connection()


# the name the AI engine's data loader uses
BinanceMarket = BinanceMarketSource
