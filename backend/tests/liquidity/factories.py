"""Small builders of market snapshots and model signals for the liquidity tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ai_engine.signal import Action, Signal
from backend.market.types import BookTop, Kline, MarketSnapshot, SymbolRules, Ticker24h

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Sym:
    """One symbol of a test market; spread in bps around ``price``."""

    base: str
    quote: str = "USDT"
    quote_volume: float = 50_000_000
    price: float = 10.0
    spread_bps: float | None = 2.0  # None: no book top
    status: str = "TRADING"
    spot_allowed: bool = True
    listed_days_ago: float | None = 400
    ticker: bool = True

    @property
    def symbol(self) -> str:
        return self.base + self.quote


def rules(s: Sym, now: datetime = NOW) -> SymbolRules:
    return SymbolRules(
        symbol=s.symbol,
        status=s.status,
        base_asset=s.base,
        quote_asset=s.quote,
        tick_size=Decimal("0.0001"),
        min_price=Decimal(0),
        max_price=Decimal(0),
        step_size=Decimal("0.001"),
        min_qty=Decimal(0),
        max_qty=Decimal(0),
        market_step_size=Decimal("0.001"),
        market_min_qty=Decimal(0),
        market_max_qty=Decimal(0),
        min_notional=Decimal(5),
        max_notional=Decimal(0),
        spot_allowed=s.spot_allowed,
        listed_at=None if s.listed_days_ago is None else now - timedelta(days=s.listed_days_ago),
    )


def ticker(s: Sym, now: datetime = NOW) -> Ticker24h:
    price = Decimal(repr(s.price))
    return Ticker24h(
        symbol=s.symbol,
        last_price=price,
        open_price=price,
        high_price=price,
        low_price=price,
        volume=Decimal(repr(s.quote_volume)) / price,
        quote_volume=Decimal(repr(s.quote_volume)),
        price_change_pct=Decimal(0),
        trade_count=1000,
        close_time=now,
    )


def book(s: Sym, now: datetime = NOW) -> BookTop:
    price = Decimal(repr(s.price))
    half = price * Decimal(repr(s.spread_bps or 0)) / Decimal(20_000)
    return BookTop(
        symbol=s.symbol,
        bid_price=price - half,
        bid_qty=Decimal(10),
        ask_price=price + half,
        ask_qty=Decimal(10),
        time=now,
    )


def snapshot(symbols: Iterable[Sym], *, now: datetime = NOW, source: str = "test") -> MarketSnapshot:
    items = list(symbols)
    return MarketSnapshot(
        taken_at=now,
        source=source,
        rules={s.symbol: rules(s, now) for s in items},
        tickers={s.symbol: ticker(s, now) for s in items if s.ticker},
        book_tops={s.symbol: book(s, now) for s in items if s.spread_bps is not None},
    )


def signal(symbol: str, action: Action, confidence: float, version: str = "v-test") -> Signal:
    """A signal whose remaining probability is split evenly between the two other classes."""
    rest = (1.0 - confidence) / 2
    probabilities = {a: (confidence if a is action else rest) for a in Action}
    return Signal(symbol, action, confidence, probabilities, version)


DEFAULT_MARKET = [
    Sym("BTC", quote_volume=900_000_000, price=60_000, spread_bps=0.5),
    Sym("ETH", quote_volume=500_000_000, price=3_000, spread_bps=0.8),
    Sym("SOL", quote_volume=200_000_000, price=150, spread_bps=1.5),
    Sym("BNB", quote_volume=120_000_000, price=550, spread_bps=1.5),
    Sym("XRP", quote_volume=90_000_000, price=0.6, spread_bps=2.0),
    Sym("ADA", quote_volume=40_000_000, price=0.4, spread_bps=3.0),
    Sym("USDC", quote_volume=900_000_000, price=1.0, spread_bps=0.1),
    Sym("BTCUP", quote_volume=8_000_000, price=12, spread_bps=5),
    Sym("WAVES", status="HALT"),
    Sym("NOVA", listed_days_ago=2),
    Sym("DUSK", quote_volume=2_000_000, spread_bps=180),
    Sym("BTC", quote="EUR", quote_volume=30_000_000, price=55_000),
]


class FakeMarket:
    """A market service answering a fixed snapshot (or raising), recording kline requests."""

    def __init__(self, market: MarketSnapshot | None = None, *, error: Exception | None = None) -> None:
        self.market = market if market is not None else snapshot(DEFAULT_MARKET)
        self.error = error
        self.kline_requests: list[tuple[list[str], str, int]] = []

    async def snapshot(self) -> MarketSnapshot:
        if self.error is not None:
            raise self.error
        return self.market

    async def klines(self, symbols: list[str], interval: str, limit: int) -> dict[str, list[Kline]]:
        self.kline_requests.append((list(symbols), interval, limit))
        return {s: [] for s in symbols}


class FakePredictor:
    """A predictor with a fixed view per symbol; ``version`` None = no active model."""

    def __init__(
        self, signals: dict[str, Signal] | None = None, *, version: str | None = "v-test", error: bool = False
    ) -> None:
        self.signals = signals or {}
        self.version = version
        self.error = error
        self.calls: list[list[str]] = []
        self.bars: dict[str, int] = {}

    @property
    def active_version(self) -> str | None:
        return self.version

    def predict(self, klines_by_symbol: Mapping[str, Sequence[Kline]]) -> dict[str, Signal]:
        self.calls.append(sorted(klines_by_symbol))
        self.bars.update({s: len(k) for s, k in klines_by_symbol.items()})
        if self.error:
            raise RuntimeError("model exploded")
        return {s: sig for s, sig in self.signals.items() if s in klines_by_symbol}
