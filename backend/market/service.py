"""MarketService: the one way the rest of the service reads the market (cached, breaker-guarded, async).

Sources block (HTTP, files, numpy), so every source call runs in a worker thread. Each data kind
has its own TTL cache (``QT_MARKET_CACHE_TTL_SECONDS``, read live); every call goes through the
source's circuit breaker (``QT_MARKET_BREAKER_FAILURES`` / ``QT_MARKET_BREAKER_COOLDOWN_SECONDS``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from backend.market.cache import CircuitBreaker, Entry, TTLCache
from backend.market.errors import CircuitOpenError, MarketDataError, UnknownSymbolError
from backend.market.source import MarketDataSource, interval_seconds
from backend.market.types import BookTop, Kline, MarketSnapshot, OrderBook, SymbolRules, Ticker24h
from config.market import MarketSettings

if TYPE_CHECKING:  # the service is handed them: a backtest never imports httpx and prometheus for them
    from backend.market.sentiment import SentimentService
    from backend.observability.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

ORDER_BOOK_MAX_TTL = 5.0  # paper fills walk the book: never older than this, whatever the cache TTL


@dataclass
class RefreshReport:
    """What one market refresh did: the job turns it into JobResult details."""

    symbols: list[str]
    successful: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # symbol or data kind -> reason
    breaker: dict[str, Any] = field(default_factory=dict)
    sentiment: dict[str, Any] | None = None
    sentiment_error: str | None = None

    @property
    def degraded(self) -> bool:
        return bool(self.errors) or self.sentiment_error is not None


class MarketService:
    def __init__(
        self,
        source: MarketDataSource,
        settings: Callable[[], MarketSettings],
        clock: Callable[[], datetime],
        metrics: Metrics | None = None,
        sentiment: SentimentService | None = None,
    ) -> None:
        self.source = source
        self._settings = settings
        self._clock = clock
        self._metrics = metrics
        self.sentiment = sentiment
        # labelled children looked up once (a backtest makes thousands of calls per simulated day)
        self._requests: dict[tuple[str, str], Any] = {}
        self._ages: dict[str, tuple[Any, Any]] = {}
        requests = metrics.market_cache_requests if metrics else None

        def ttl() -> float:
            return settings().cache_ttl_seconds

        def book_ttl() -> float:
            return min(ttl(), ORDER_BOOK_MAX_TTL)

        self._rules: TTLCache[dict[str, SymbolRules]] = TTLCache("rules", ttl, clock, requests)
        self._tickers: TTLCache[dict[str, Ticker24h]] = TTLCache("tickers", ttl, clock, requests)
        self._tops: TTLCache[dict[str, BookTop]] = TTLCache("book_tops", ttl, clock, requests)
        self._klines: TTLCache[list[Kline]] = TTLCache("klines", ttl, clock, requests)
        self._books: TTLCache[OrderBook] = TTLCache("order_book", book_ttl, clock, requests)
        self.breaker = CircuitBreaker(
            source.name,
            lambda: settings().breaker_failures,
            lambda: settings().breaker_cooldown_seconds,
            clock,
            metrics.market_breaker_open if metrics else None,
        )

    @property
    def source_name(self) -> str:
        return self.source.name

    # ------------------------------------------------------------------------------ source calls
    async def _call(self, endpoint: str, func: Callable[..., T], *args: Any) -> T:
        if not self.breaker.allow():
            self._count(endpoint, "breaker_open")
            retry = self.breaker.retry_at()
            raise CircuitOpenError(
                f"{self.source_name} circuit breaker open until {retry.isoformat() if retry else '?'}"
                f" (last error: {self.breaker.last_error})"
            )
        try:
            result = await asyncio.to_thread(func, *args)
        except UnknownSymbolError:
            # the source answered; the symbol is the problem, not the source
            self._count(endpoint, "unknown_symbol")
            raise
        except Exception as exc:
            self._count(endpoint, "error")
            self.breaker.record_failure(f"{type(exc).__name__}: {exc}")
            raise
        self._count(endpoint, "ok")
        self.breaker.record_success()
        return result

    def _count(self, endpoint: str, outcome: str) -> None:
        if self._metrics is not None:
            child = self._requests.get((endpoint, outcome))
            if child is None:
                child = self._requests[(endpoint, outcome)] = self._metrics.market_source_requests.labels(
                    source=self.source_name, endpoint=endpoint, outcome=outcome
                )
            child.inc()

    def _age(self, kind: str, as_of: datetime, *, expected: float = 0.0) -> None:
        if self._metrics is not None:
            gauges = self._ages.get(kind)
            if gauges is None:
                gauges = self._ages[kind] = (
                    self._metrics.market_data_age.labels(kind=kind),
                    self._metrics.market_data_expected_age.labels(kind=kind),
                )
            gauges[0].set(max((self._clock() - as_of).total_seconds(), 0.0))
            gauges[1].set(expected)

    # ------------------------------------------------------------------------------ data kinds
    async def rules(self, *, force: bool = False) -> dict[str, SymbolRules]:
        entry = None if force else self._rules.get("all")
        if entry is None:
            entry = self._rules.put("all", await self._call("exchange_info", self.source.symbol_rules))
        self._age("rules", entry.as_of)
        return entry.value

    async def tickers(self, *, force: bool = False) -> dict[str, Ticker24h]:
        entry = None if force else self._tickers.get("all")
        if entry is None:
            value = await self._call("ticker_24hr", self.source.tickers_24h)
            newest = max((t.close_time for t in value.values()), default=None)
            entry = self._tickers.put("all", value, as_of=newest)
        self._age("tickers", entry.as_of)
        return entry.value

    async def book_tops(self, *, force: bool = False) -> dict[str, BookTop]:
        """Every symbol's best bid and ask (cached)."""
        entry = None if force else self._tops.get("all")
        if entry is None:
            value = await self._call("book_ticker", self.source.book_tops)
            newest = max((t.time for t in value.values()), default=None)
            entry = self._tops.put("all", value, as_of=newest)
        self._age("book_tops", entry.as_of)
        return entry.value

    async def snapshot(self) -> MarketSnapshot:
        """Rules, 24h tickers and book tops of every symbol (each from its cache when fresh)."""
        rules = await self.rules()
        tickers = await self.tickers()
        tops = await self.book_tops()
        return MarketSnapshot(
            taken_at=self._clock(), source=self.source_name, rules=rules, tickers=tickers, book_tops=tops
        )

    async def symbol_klines(
        self, symbol: str, interval: str | None = None, limit: int | None = None, *, force: bool = False
    ) -> list[Kline]:
        settings = self._settings()
        interval = interval or settings.kline_interval
        limit = limit or settings.history_bars
        key = (symbol, interval, limit)
        entry: Entry[list[Kline]] | None = None if force else self._klines.get(key)
        if entry is None:
            bars = await self._fetch_klines(symbol, interval, limit)
            entry = self._klines.put(key, bars, as_of=bars[-1].close_time if bars else None)
        self._age("klines", entry.as_of, expected=interval_seconds(interval))
        return entry.value

    async def _fetch_klines(self, symbol: str, interval: str, limit: int) -> list[Kline]:
        # sources answer at most 1000 bars per call (Binance's cap): page backwards for more
        if limit <= 1000:
            return await self._call("klines", self.source.klines, symbol, interval, None, None, limit)
        bars: list[Kline] = []
        end: datetime | None = None
        while len(bars) < limit:
            page = await self._call(
                "klines", self.source.klines, symbol, interval, None, end, min(1000, limit - len(bars))
            )
            page = [k for k in page if not bars or k.open_time < bars[0].open_time]
            if not page:
                break
            bars = page + bars
            end = page[0].open_time - (page[0].close_time - page[0].open_time)
        return bars[-limit:]

    async def klines_with_errors(
        self, symbols: Sequence[str], interval: str | None = None, limit: int | None = None, *, force: bool = False
    ) -> tuple[dict[str, list[Kline]], dict[str, str]]:
        out: dict[str, list[Kline]] = {}
        errors: dict[str, str] = {}
        for symbol in symbols:
            try:
                out[symbol] = await self.symbol_klines(symbol, interval, limit, force=force)
            except MarketDataError as exc:
                errors[symbol] = str(exc)
            except Exception as exc:
                errors[symbol] = f"{type(exc).__name__}: {exc}"
        return out, errors

    async def klines(
        self, symbols: Sequence[str], interval: str | None = None, limit: int | None = None
    ) -> dict[str, list[Kline]]:
        """Bars per symbol (cached); symbols that fail are left out (the refresh job reports them)."""
        out, errors = await self.klines_with_errors(symbols, interval, limit)
        if errors:
            log.warning("klines unavailable", extra={"errors": errors})
        return out

    async def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        key = (symbol, limit)
        entry = self._books.get(key)
        if entry is None:
            book = await self._call("depth", self.source.order_book, symbol, limit)
            entry = self._books.put(key, book, as_of=book.time)
        self._age("order_book", entry.as_of)
        return entry.value

    async def reference_price(self, symbol: str) -> tuple[Decimal, datetime]:
        """The mid of the best bid and ask (or the last trade price) and the time it describes."""
        tops = await self.book_tops()
        top = tops.get(symbol)
        if top is not None and top.bid_price > 0 and top.ask_price > 0:
            return top.mid, top.time
        tickers = await self.tickers()
        ticker = tickers.get(symbol)
        if ticker is not None and ticker.last_price > 0:
            return ticker.last_price, ticker.close_time
        raise UnknownSymbolError(symbol)

    async def server_time(self) -> datetime:
        return await self._call("time", self.source.server_time)

    # ------------------------------------------------------------------------------ refresh
    async def refresh(self, symbols: Sequence[str]) -> RefreshReport:
        """Warm rules, tickers, book tops and each symbol's klines; per-symbol errors are recorded."""
        report = RefreshReport(symbols=list(symbols))
        advance = getattr(self.source, "advance", None)
        if advance is not None:  # the replay source moves one bar per refresh
            await asyncio.to_thread(advance)
        # look-ups, not forced fetches: data still fresh in a cache is a hit, stale data is re-fetched
        for kind, fetch in (("rules", self.rules), ("tickers", self.tickers), ("book_tops", self.book_tops)):
            try:
                await fetch()
            except Exception as exc:
                report.errors[kind] = _reason(exc)
        _, errors = await self.klines_with_errors(symbols)
        for symbol in symbols:
            if symbol in errors:
                report.errors[symbol] = errors[symbol]
            else:
                report.successful.append(symbol)
        if self.sentiment is not None:
            reading, error = await self.sentiment.refresh()
            report.sentiment = reading
            report.sentiment_error = error
        report.breaker = self.breaker.snapshot()
        return report

    def data_ages(self) -> dict[str, float | None]:
        """Seconds since the data of each kind describes (None: never fetched)."""
        now = self._clock()
        ages: dict[str, float | None] = {}
        for kind, cache in (("rules", self._rules), ("tickers", self._tickers), ("book_tops", self._tops)):
            entry = cache.peek("all")
            ages[kind] = None if entry is None else round((now - entry.as_of).total_seconds(), 3)
        return ages

    def health_reasons(self) -> list[str]:
        reasons = []
        state = self.breaker.snapshot()
        if state["state"] != "closed":
            reasons.append(f"{self.source_name} circuit breaker {state['state']}: {state['last_error']}")
        return reasons

    def close(self) -> None:
        self.source.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, MarketDataError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
