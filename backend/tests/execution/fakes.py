"""Small fakes for execution tests: a deterministic market with rules, tickers, book tops and depth."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from backend.market.types import BookLevel, BookTop, MarketSnapshot, OrderBook, SymbolRules, Ticker24h

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def rules_for(
    symbol: str,
    *,
    base: str | None = None,
    quote: str = "USDT",
    tick: str = "0.01",
    step: str = "0.001",
    market_step: str = "0",
    min_qty: str = "0.001",
    max_qty: str = "100000",
    min_notional: str = "5",
    status: str = "TRADING",
) -> SymbolRules:
    return SymbolRules(
        symbol=symbol,
        status=status,
        base_asset=base or symbol.removesuffix(quote),
        quote_asset=quote,
        tick_size=Decimal(tick),
        min_price=Decimal(tick),
        max_price=Decimal("1000000"),
        step_size=Decimal(step),
        min_qty=Decimal(min_qty),
        max_qty=Decimal(max_qty),
        market_step_size=Decimal(market_step),
        market_min_qty=Decimal(0),
        market_max_qty=Decimal(0),
        min_notional=Decimal(min_notional),
        max_notional=Decimal(0),
    )


@dataclass
class FakeMarket:
    """Prices per symbol; the book has `levels` levels each side, `spread_bps` apart, `depth` base each."""

    prices: dict[str, Decimal]
    rules: dict[str, SymbolRules] = field(default_factory=dict)
    spread_bps: Decimal = Decimal(2)
    level_bps: Decimal = Decimal(5)
    depth: Decimal = Decimal(1000)
    levels: int = 10
    now: datetime = NOW
    calls: int = 0
    # faults: a ticker last price apart from the book (symbol -> price); depth away from the top
    # (symbol -> factor applied to the book the paper exchange walks)
    last_prices: dict[str, Decimal] = field(default_factory=dict)
    depth_factor: dict[str, Decimal] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for symbol in self.prices:
            self.rules.setdefault(symbol, rules_for(symbol))

    def _top(self, symbol: str) -> tuple[Decimal, Decimal]:
        mid = self.prices[symbol]
        half = mid * self.spread_bps / Decimal(20_000)
        return mid - half, mid + half

    async def snapshot(self) -> MarketSnapshot:
        self.calls += 1
        tickers = {}
        tops = {}
        for symbol, price in self.prices.items():
            bid, ask = self._top(symbol)
            last = self.last_prices.get(symbol, price)
            tickers[symbol] = Ticker24h(
                symbol, last, price, price, price, Decimal(1000), Decimal(1000) * price, Decimal(0), 100, self.now
            )
            tops[symbol] = BookTop(symbol, bid, self.depth, ask, self.depth, self.now)
        return MarketSnapshot(taken_at=self.now, source="fake", rules=dict(self.rules), tickers=tickers, book_tops=tops)

    async def order_book(self, symbol: str, limit: int = 20) -> OrderBook:
        bid, ask = self._top(symbol)
        factor = self.depth_factor.get(symbol, Decimal(1))
        bid, ask = bid * factor, ask * factor
        step = self.prices[symbol] * self.level_bps / Decimal(10_000)
        n = min(limit, self.levels)
        return OrderBook(
            symbol=symbol,
            bids=tuple(BookLevel(bid - step * i, self.depth) for i in range(n)),
            asks=tuple(BookLevel(ask + step * i, self.depth) for i in range(n)),
            time=self.now,
        )

    async def symbol_rules(self) -> dict[str, SymbolRules]:
        return dict(self.rules)


@dataclass
class Clock:
    """A settable UTC clock; advancing it moves the fake market's observation time too."""

    now: datetime = NOW
    market: FakeMarket | None = None

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)
        if self.market is not None:
            self.market.now = self.now
        return self.now
