"""The `MarketDataSource` protocol every source implements, and bar-interval helpers.

Sources are synchronous: a call may block (HTTP, files), so async code must run them off the event
loop (`asyncio.to_thread`), as `MarketService` does. Every datetime is UTC-aware; every price and
quantity is `Decimal`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from backend.market.types import BookTop, Kline, OrderBook, SymbolRules, Ticker24h

INTERVAL_SECONDS: dict[str, int] = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14_400,
    "6h": 21_600,
    "8h": 28_800,
    "12h": 43_200,
    "1d": 86_400,
}


def interval_seconds(interval: str) -> int:
    """Seconds in a Binance interval name ("1m" .. "1d"); ValueError for any other."""
    try:
        return INTERVAL_SECONDS[interval]
    except KeyError:
        raise ValueError(f"unsupported interval {interval!r} (accepted: {', '.join(INTERVAL_SECONDS)})") from None


def interval_delta(interval: str) -> timedelta:
    return timedelta(seconds=interval_seconds(interval))


def floor_time(moment: datetime, interval: str) -> datetime:
    """The open time of the bar of ``interval`` containing ``moment`` (bars align to the Unix epoch)."""
    step = interval_seconds(interval)
    ts = int(moment.timestamp())
    return datetime.fromtimestamp(ts - ts % step, UTC)


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@runtime_checkable
class MarketDataSource(Protocol):
    """Where market data comes from. Calls may block; never call them on the event loop."""

    name: str

    def symbol_rules(self) -> dict[str, SymbolRules]:
        """Every symbol's exchange rules (any status), keyed by symbol."""
        ...

    def tickers_24h(self) -> dict[str, Ticker24h]:
        """Rolling 24-hour statistics of every symbol, keyed by symbol."""
        ...

    def book_tops(self) -> dict[str, BookTop]:
        """Best bid and ask of every symbol, keyed by symbol."""
        ...

    def klines(
        self,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """Closed bars, oldest first, with ``start <= open_time <= end``; the newest ``limit`` of them
        when ``start`` is None, the oldest ``limit`` from ``start`` otherwise. UnknownSymbolError for
        a symbol the source does not have."""
        ...

    def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        """Depth on both sides, best first, at most ``limit`` levels each."""
        ...

    def server_time(self) -> datetime: ...

    def close(self) -> None:
        """Release connections and files (idempotent)."""
        ...
