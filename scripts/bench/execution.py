"""One rebalance cycle for 300 symbols: plan, risk guard, paper fills and SQLite persistence.

The market is synthetic and seeded (300 USDT symbols, ten book levels each side). The portfolio
starts in cash; the timed cycle buys all 300 symbols (300 orders through the RiskGuard into the
paper exchange, each persisted before and after submission, fills into the ledger). A second timed
cycle after a price move rebalances (sells before buys). Target: one cycle <= 300 ms.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from backend.exchanges.paper import PaperConfig, PaperExchange
from backend.execution.ledger import Ledger
from backend.execution.planner import PlanParams
from backend.execution.service import ExecutionService
from backend.execution.tradelog import TradesLog
from backend.market.types import BookLevel, BookTop, MarketSnapshot, OrderBook, SymbolRules, Ticker24h
from backend.observability.metrics import Metrics
from backend.risk.guard import RiskGuard
from backend.risk.guarded import GuardedExchange
from backend.risk.store import RiskStateStore
from config.risk import RiskSettings
from database.migrate import upgrade
from database.session import make_engine, make_session_factory

SYMBOLS = 300
ROUNDS = 3
TARGET_MS = 300.0
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class _Market:
    def __init__(self, rng: random.Random) -> None:
        self.prices = {f"S{i:03d}USDT": Decimal(f"{10 ** rng.uniform(-1, 4):.4f}") for i in range(SYMBOLS)}
        self.rules = {
            s: SymbolRules(
                symbol=s,
                status="TRADING",
                base_asset=s.removesuffix("USDT"),
                quote_asset="USDT",
                tick_size=Decimal("0.0001"),
                min_price=Decimal("0.0001"),
                max_price=Decimal(1_000_000),
                step_size=Decimal("0.00001"),
                min_qty=Decimal("0.00001"),
                max_qty=Decimal(10_000_000),
                market_step_size=Decimal(0),
                market_min_qty=Decimal(0),
                market_max_qty=Decimal(0),
                min_notional=Decimal(5),
                max_notional=Decimal(0),
            )
            for s in self.prices
        }

    def _top(self, s: str) -> tuple[Decimal, Decimal]:
        p = self.prices[s]
        return p * Decimal("0.9999"), p * Decimal("1.0001")

    async def snapshot(self) -> MarketSnapshot:
        tickers, tops = {}, {}
        for s, p in self.prices.items():
            bid, ask = self._top(s)
            tickers[s] = Ticker24h(s, p, p, p, p, Decimal(1000), Decimal(1000) * p, Decimal(0), 100, NOW)
            tops[s] = BookTop(s, bid, Decimal(1000), ask, Decimal(1000), NOW)
        return MarketSnapshot(taken_at=NOW, source="bench", rules=dict(self.rules), tickers=tickers, book_tops=tops)

    async def order_book(self, symbol: str, limit: int) -> OrderBook:
        bid, ask = self._top(symbol)
        qty = Decimal(5000) / self.prices[symbol]  # ~5,000 USDT a level: bigger orders walk the book
        step = self.prices[symbol] * Decimal("0.0005")
        return OrderBook(
            symbol,
            tuple(BookLevel(bid - step * i, qty) for i in range(10)),
            tuple(BookLevel(ask + step * i, qty) for i in range(10)),
            NOW,
        )

    async def symbol_rules(self) -> dict[str, SymbolRules]:
        return self.rules


async def _round(round_: int, workdir: Path, riskdir: Path, max_orders: int) -> tuple[float, float, int, int]:
    """One round: a fresh database, risk store and market; the two timed cycles (ms) and their orders."""
    url = f"sqlite:///{workdir / f'bench{round_}.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    market = _Market(random.Random(7 + round_))  # noqa: S311  (seeded test data)
    paper = PaperConfig(starting_cash=Decimal(3_000_000))
    store = RiskStateStore(f"sqlite:///{riskdir / f'risk{round_}.db'}")
    store.create()
    risk = RiskSettings(
        _env_file=None, QT_MAX_NOTIONAL_PER_TRADE="1000000", QT_MAX_DAILY_LOSS="1000000", QT_MIN_PRICE="0.01"
    )
    guard = RiskGuard(store, lambda: risk, clock=lambda: NOW)
    guard.load()
    adapter = PaperExchange(
        sessions,
        book=market.order_book,
        rules=market.symbol_rules,
        config=lambda: paper,
        clock=lambda: NOW,
    )
    weights = {s: Decimal(1) / SYMBOLS for s in market.prices}
    params = PlanParams(max_orders=max_orders, max_notional_per_trade=Decimal(1_000_000), cost_margin_bps=Decimal(60))
    service = ExecutionService(
        ledger=Ledger(sessions, exchange="paper", quote_asset="USDT", clock=lambda: NOW),
        exchange=GuardedExchange(adapter, guard, refresh_state=False),
        snapshot=market.snapshot,
        selection=lambda: weights,
        params=lambda: params,
        metrics=Metrics(),
        trades_log=TradesLog(workdir / "trades.log"),
        clock=lambda: NOW,
    )
    await service.reconcile()
    t0 = time.perf_counter()
    report = await service.run_cycle()
    first = (time.perf_counter() - t0) * 1000
    orders1 = report.submitted
    rng = random.Random(99 + round_)  # noqa: S311
    for s in market.prices:
        market.prices[s] *= Decimal(f"{rng.uniform(0.9, 1.1):.4f}")
    t0 = time.perf_counter()
    report = await service.run_cycle()
    second = (time.perf_counter() - t0) * 1000
    service.close()
    store.close()
    engine.dispose()
    return first, second, orders1, report.submitted


async def _cycles(workdir: Path, riskdir: Path, max_orders: int = SYMBOLS) -> tuple[list[float], list[float], int, int]:
    first: list[float] = []
    second: list[float] = []
    orders1 = orders2 = 0
    for round_ in range(ROUNDS):
        ms1, ms2, orders1, orders2 = await _round(round_, workdir, riskdir, max_orders)
        first.append(ms1)
        second.append(ms2)
    return first, second, orders1, orders2


def run() -> list[dict[str, Any]]:
    rows = []
    # tmpfs takes the risk store's per-fill fsync out of the figure; a private directory is made in it
    shm = Path("/dev/shm")  # noqa: S108  # nosec B108
    setups: list[tuple[str, Path | None, int]] = [("risk store on disk (fsync per fill)", None, SYMBOLS)]
    if shm.is_dir():
        setups.append(("risk store on tmpfs", shm, SYMBOLS))
    setups.append(("default QT_EXECUTION_MAX_ORDERS=10", None, 10))
    for label, risk_root, max_orders in setups:
        with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(dir=risk_root) as risk_tmp:
            first, second, n1, n2 = asyncio.run(_cycles(Path(tmp), Path(risk_tmp), max_orders))
        for name, values, n in (("first cycle, all buys", first, n1), ("rebalance after a price move", second, n2)):
            value = statistics.median(values)
            rows.append(
                {
                    "name": f"execution cycle, {SYMBOLS} symbols, {n} orders ({name}; {label})",
                    "value": round(value, 1),
                    "unit": "ms",
                    "target": f"<= {TARGET_MS:.0f} ms",
                    "ok": value <= TARGET_MS,
                }
            )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
