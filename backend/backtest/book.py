"""One book of a backtest: a portfolio traded by the live execution stack on its own scratch database.

The strategy and every baseline are books: each has the service's ExecutionService with its
Ledger, the PaperExchange (its fill model: the book, and the closed bars of the market service
for resting orders, as the live service wires it) behind the GuardedExchange and a RiskGuard with
every rule, all on the backtest clock; they differ only in the weights they are given. Between
cycles the engine runs each book's resting-order check: the very `ExecutionService.tend_resting`
the `execution-resting` job runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from backend.backtest.scratch import scratch_engine
from backend.exchanges.factory import closed_bars, paper_config
from backend.exchanges.paper import PaperExchange
from backend.execution.ledger import Ledger
from backend.execution.params import plan_params_for
from backend.execution.service import CycleReport, ExecutionService
from backend.execution.tradelog import TradesLog
from backend.market.service import MarketService
from backend.market.types import BookLevel, OrderBook
from backend.observability.metrics import Metrics
from backend.risk.guard import RiskGuard
from backend.risk.guarded import GuardedExchange
from backend.risk.store import RiskStateStore
from config.runtime import SettingsHolder
from database.models.execution import FillRecord, Order

ZERO = Decimal(0)
BPS = Decimal(10_000)
# The depth of the book a fixed-slippage run fills against: deep enough for any order.
FIXED_BOOK_QTY = Decimal("1e12")

Weights = dict[str, Decimal] | None
SelectionFn = Callable[[], Weights]


@dataclass
class Book:
    name: str
    engine: Engine
    sessions: sessionmaker[Session]
    service: ExecutionService
    guard: RiskGuard
    store: RiskStateStore
    quote: str
    clock: Callable[[], datetime]
    cash: Decimal = ZERO
    holdings: dict[str, Decimal] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    cycles: int = 0
    working: bool = False  # orders may rest or slices be due since the last look (the ledger may move)

    async def cycle(self) -> CycleReport:
        report = await self.service.run_cycle()
        self.cycles += 1
        self.working = True  # a maker order or a slice may be left working until the next check
        now = self.clock()
        for item in report.skipped_orders:
            self.skipped.append({"time": now, **item})
        portfolio = self.service.last_portfolio  # the cycle's own valuation (no second read of the ledger)
        if portfolio is None or report.status == "failed":
            self._from_ledger()
        else:
            self.holdings = {p.symbol: p.quantity for p in portfolio.positions if p.quantity != 0}
            self.cash = portfolio.cash
        return report

    async def tend_resting(self) -> dict[str, str]:
        """The `execution-resting` job's check between cycles (the service's own method): resting
        orders looked up, re-priced or finished with limit_ioc, due slices sent. Returns the
        symbols still working; holdings and cash follow what it filled."""
        if not self.working:
            return {}
        busy = await self.service.tend_resting()
        self._from_ledger()
        self.working = bool(busy)
        return busy

    def _from_ledger(self) -> None:
        self.holdings = {s: p.quantity for s, p in self.service.ledger.positions().items() if p.quantity != 0}
        self.cash = self.service.ledger.cash()

    def equity(self, marks: dict[str, Decimal]) -> tuple[Decimal, Decimal]:
        """(equity, gross exposure) at these marks (a symbol without a mark is valued at zero)."""
        gross = sum((abs(q) * marks.get(s, ZERO) for s, q in self.holdings.items()), ZERO)
        return self.cash + gross, gross

    def orders(self) -> list[Order]:
        with self.sessions() as session:
            return list(session.scalars(select(Order).order_by(Order.id)))

    def fills(self) -> list[FillRecord]:
        with self.sessions() as session:
            return list(session.scalars(select(FillRecord).order_by(FillRecord.id)))

    def close(self) -> None:
        self.service.close()
        self.engine.dispose()


def fixed_slippage_book(market: MarketService, bps: Decimal) -> Callable[[str, int], Awaitable[OrderBook]]:
    """A one-level book at the mid ± ``bps``: the paper exchange fills every order there."""

    async def book(symbol: str, _limit: int) -> OrderBook:
        mid, at = await market.reference_price(symbol)
        rules = (await market.rules()).get(symbol)
        tick = rules.tick_size if rules is not None and rules.tick_size > 0 else None
        ask = mid * (1 + bps / BPS)
        bid = mid * (1 - bps / BPS)
        if tick is not None:
            ask, bid = ask.quantize(tick), bid.quantize(tick)
        return OrderBook(symbol, (BookLevel(bid, FIXED_BOOK_QTY),), (BookLevel(ask, FIXED_BOOK_QTY),), at)

    return book


def build_book(
    name: str,
    *,
    settings: SettingsHolder,
    market: MarketService,
    clock: Callable[[], datetime],
    selection: SelectionFn,
    slippage_bps: Decimal | None,
    trades_log: Path | None,
    metrics: Metrics,
) -> Book:
    engine, sessions = scratch_engine()
    current = settings.current
    book_fn = market.order_book if slippage_bps is None else fixed_slippage_book(market, slippage_bps)
    # the drift report's recorded market has no bars (its cycles recorded the books they walked)
    klines = getattr(market, "symbol_klines", None)
    adapter = PaperExchange(
        sessions,
        book=book_fn,
        rules=market.rules,
        config=lambda: paper_config(settings.current),
        clock=clock,
        bars=closed_bars(klines) if klines is not None else None,
    )
    store = RiskStateStore("sqlite://", engine=engine)
    store.create()
    guard = RiskGuard(store, lambda: settings.current.risk, metrics=metrics, clock=clock)
    guard.load()

    async def snapshot() -> Any:
        return await market.snapshot()

    service = ExecutionService(
        ledger=Ledger(sessions, exchange=adapter.name, quote_asset=current.execution.quote_asset, clock=clock),
        # nothing else shares this scratch risk store: re-reading it before each order would only cost
        exchange=GuardedExchange(adapter, guard, refresh_state=False),
        snapshot=snapshot,
        selection=selection,
        params=lambda: plan_params_for(settings.current),
        metrics=metrics,
        trades_log=TradesLog(trades_log),
        clock=clock,
    )
    return Book(name, engine, sessions, service, guard, store, current.execution.quote_asset, clock)
