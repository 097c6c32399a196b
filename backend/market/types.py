"""The market vocabulary: exchange rules, tickers, book tops, bars and snapshots (Decimal, UTC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class SymbolStatus(StrEnum):
    TRADING = "TRADING"
    HALT = "HALT"
    BREAK = "BREAK"
    END_OF_DAY = "END_OF_DAY"
    PRE_TRADING = "PRE_TRADING"
    POST_TRADING = "POST_TRADING"
    AUCTION_MATCH = "AUCTION_MATCH"


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """A symbol's exchange rules (Binance filters). A zero bound means "not enforced"."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step_size: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    min_notional_applies_to_market: bool = True
    max_notional_applies_to_market: bool = False
    spot_allowed: bool = True
    listed_at: datetime | None = None
    # PERCENT_PRICE_BY_SIDE (or the older PERCENT_PRICE, both sides alike): a limit buy's price must
    # lie within [bid_down, bid_up] × the average price, a sale's within [ask_down, ask_up]; 0 = off
    bid_multiplier_up: Decimal = Decimal(0)
    bid_multiplier_down: Decimal = Decimal(0)
    ask_multiplier_up: Decimal = Decimal(0)
    ask_multiplier_down: Decimal = Decimal(0)

    @property
    def is_trading(self) -> bool:
        return self.status == SymbolStatus.TRADING


@dataclass(frozen=True, slots=True)
class Ticker24h:
    symbol: str
    last_price: Decimal
    open_price: Decimal
    high_price: Decimal
    low_price: Decimal
    volume: Decimal  # base asset
    quote_volume: Decimal
    price_change_pct: Decimal
    trade_count: int
    close_time: datetime


@dataclass(frozen=True, slots=True)
class BookTop:
    symbol: str
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
    time: datetime

    @property
    def mid(self) -> Decimal:
        return (self.bid_price + self.ask_price) / 2

    @property
    def spread_bps(self) -> Decimal:
        mid = self.mid
        if mid <= 0:
            return Decimal("Infinity")
        return (self.ask_price - self.bid_price) / mid * Decimal(10_000)


@dataclass(frozen=True, slots=True)
class Kline:
    symbol: str
    interval: str
    open_time: datetime
    close_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trade_count: int = 0


@dataclass(frozen=True, slots=True)
class BookLevel:
    price: Decimal
    qty: Decimal


@dataclass(frozen=True, slots=True)
class OrderBook:
    """Depth on both sides, best first."""

    symbol: str
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    time: datetime


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Everything the universe selection needs at one moment."""

    taken_at: datetime
    source: str
    rules: dict[str, SymbolRules]
    tickers: dict[str, Ticker24h]
    book_tops: dict[str, BookTop]
    klines: dict[str, list[Kline]] = field(default_factory=dict)
