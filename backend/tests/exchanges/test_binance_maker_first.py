"""maker_first through the real python-binance client against the local Binance server, whole
cycles of the execution service: a maker order that never fills and falls back to limit_ioc, a
partial fill then the kill switch's cancel, a restart with the order resting, and a sliced order;
the ledger equals the exchange's account after each."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from backend.exchanges.binance import BinanceExchange
from backend.execution.ledger import Ledger
from backend.execution.planner import PlanParams
from backend.execution.service import ExecutionService
from backend.execution.tradelog import TradesLog
from backend.market.sources.simulated import SimulatedMarket
from backend.market.types import MarketSnapshot
from backend.observability.metrics import Metrics
from backend.risk.guard import RiskGuard
from backend.risk.guarded import GuardedExchange
from backend.risk.store import RiskStateStore
from backend.tests.execution.fakes import Clock
from backend.tests.fakes.binance_account import MatchingEngine
from backend.tests.fakes.binance_server import FakeBinance
from config.risk import RiskSettings
from database.models.execution import Order
from database.session import make_engine, make_session_factory

D = Decimal


class Stack:
    """The service on the real adapter, a real guard and a real database (one 'process')."""

    def __init__(
        self,
        url: str,
        database_url: str,
        tmp_path: Path,
        market: SimulatedMarket,
        clock: Clock,
        params: PlanParams | None = None,
    ) -> None:
        self.engine = make_engine(database_url)
        self.sessions = make_session_factory(self.engine)
        self.store = RiskStateStore(f"sqlite:///{tmp_path / 'risk.db'}")
        self.store.create()
        risk = RiskSettings(_env_file=None, QT_MAX_NOTIONAL_PER_TRADE="100000", QT_MAX_PRICE_STALENESS_SECONDS="3600")  # type: ignore[call-arg]
        self.guard = RiskGuard(self.store, lambda: risk, clock=clock)
        self.guard.load()
        self.adapter = BinanceExchange(api_key="fake-api-key", api_secret="fake-api-secret", base_url=url, timeout=5.0)

        async def snapshot() -> MarketSnapshot:
            return MarketSnapshot(
                taken_at=clock(),
                source="simulated",
                rules=market.symbol_rules(),
                tickers=market.tickers_24h(),
                book_tops=market.book_tops(),
            )

        params = params or PlanParams(
            max_notional_per_trade=D(100000),
            cost_margin_bps=D(60),
            order_style="maker_first",
            maker_timeout_seconds=60.0,
            maker_reprices=0,
        )
        self.service = ExecutionService(
            ledger=Ledger(self.sessions, exchange="binance", quote_asset="USDT", clock=clock),
            exchange=GuardedExchange(self.adapter, self.guard),
            snapshot=snapshot,
            selection=lambda: {"ETHUSDT": D("0.5")},
            params=lambda: params,
            metrics=Metrics(),
            trades_log=TradesLog(tmp_path / "trades.log"),
            clock=clock,
        )

    def orders(self) -> list[Order]:
        with self.sessions() as session:
            return list(session.scalars(select(Order).order_by(Order.id)))

    async def ledger_matches_exchange(self) -> None:
        account = await self.adapter.account()
        ledger = self.service.ledger
        assert ledger.cash() == account.balances["USDT"].total
        for p in ledger.positions().values():
            held = account.balances[p.base_asset].total if p.base_asset in account.balances else 0
            assert p.quantity == held
        trades = {t.trade_id for s in ledger.positions() for t in await self.adapter.trades(s)}
        assert ledger.fill_count() == len(trades)

    async def close(self) -> None:
        self.service.close()
        await self.adapter.close()
        self.store.close()
        self.engine.dispose()


def stack(server: tuple[FakeBinance, MatchingEngine], database_url: str, tmp_path: Path, market: SimulatedMarket,
          clock: Clock) -> Stack:  # fmt: skip
    return Stack(server[0].url, database_url, tmp_path, market, clock)


async def test_a_maker_order_that_never_fills_falls_back_to_limit_ioc(
    server: tuple[FakeBinance, MatchingEngine], market: SimulatedMarket, database_url: str, tmp_path: Path
) -> None:
    fake, engine = server
    clock = Clock(datetime.now(UTC))
    s = stack(server, database_url, tmp_path, market, clock)
    try:
        await s.service.reconcile()
        await s.service.run_cycle()
        [maker] = s.orders()
        assert (maker.order_type, maker.status) == ("LIMIT_MAKER", "NEW")
        [sent] = [r for r in fake.requests if r.path == "/api/v3/order" and r.method == "POST"]
        assert sent.params["type"] == "LIMIT_MAKER"
        assert D(sent.params["price"]) == market.book_tops()["ETHUSDT"].bid_price
        clock.advance(30)
        await s.service.run_cycle()
        assert [o.status for o in s.orders()] == ["NEW"]  # resting, nothing new on ETH
        clock.advance(31)
        await s.service.run_cycle()
        root, taker = s.orders()
        assert root.status == "CANCELED"
        assert (taker.client_order_id, taker.order_type) == (f"{root.client_order_id}-t", "LIMIT")
        assert taker.executed_quantity > 0
        assert [o["type"] for o in engine.orders] == ["LIMIT_MAKER", "LIMIT"]
        assert engine.orders[0]["status"] == "CANCELED"
        await s.ledger_matches_exchange()
    finally:
        await s.close()


async def test_a_partial_fill_then_the_kill_switch_cancels_it(
    server: tuple[FakeBinance, MatchingEngine], market: SimulatedMarket, database_url: str, tmp_path: Path
) -> None:
    fake, engine = server
    clock = Clock(datetime.now(UTC))
    s = stack(server, database_url, tmp_path, market, clock)
    try:
        await s.service.reconcile()
        await s.service.run_cycle()
        [maker] = s.orders()
        half = (maker.requested_quantity / 2).quantize(D("0.0001"))
        price = D(engine.orders[0]["price"])
        assert engine.trade(fake, "ETHUSDT", price, half) == half  # a seller hits the resting bid
        clock.advance(10)
        await s.service.run_cycle()
        [maker] = s.orders()
        assert (maker.status, maker.executed_quantity) == ("PARTIALLY_FILLED", half)
        assert s.guard.snapshot().turnover_pending == (maker.requested_quantity - half) * price
        await s.ledger_matches_exchange()
        await s.guard.set_kill_switch(True, "operator stop", "test")
        assert await s.service.cancel_open("kill switch on") == [maker.client_order_id]
        [maker] = s.orders()
        assert (maker.status, maker.executed_quantity) == ("CANCELED", half)
        assert engine.orders[0]["status"] == "CANCELED"
        assert s.guard.snapshot().pending_orders == 0
        await s.ledger_matches_exchange()
    finally:
        await s.close()


async def test_a_restart_with_an_order_resting(
    server: tuple[FakeBinance, MatchingEngine], market: SimulatedMarket, database_url: str, tmp_path: Path
) -> None:
    fake, engine = server
    clock = Clock(datetime.now(UTC))
    first = stack(server, database_url, tmp_path, market, clock)
    try:
        await first.service.reconcile()
        await first.service.run_cycle()
    finally:
        await first.close()
    again = stack(server, database_url, tmp_path, market, clock)
    try:
        report = await again.service.reconcile()
        assert (report.error, report.unresolved) == (None, [])
        [maker] = again.orders()
        assert maker.status == "NEW"
        assert again.guard.snapshot().pending_orders == 1  # its open quantity is reserved again
        engine.trade(fake, "ETHUSDT", D(engine.orders[0]["price"]), maker.requested_quantity)
        clock.advance(10)
        await again.service.run_cycle()
        [maker] = again.orders()[:1]
        assert maker.status == "FILLED"
        assert again.guard.snapshot().pending_orders == 0
        await again.ledger_matches_exchange()
    finally:
        await again.close()


async def test_a_sliced_order_through_python_binance(
    server: tuple[FakeBinance, MatchingEngine], market: SimulatedMarket, database_url: str, tmp_path: Path
) -> None:
    """QT_EXECUTION_SLICE_NOTIONAL with limit_ioc: the slices reach the server one by one as they
    fall due, each with its own client order id derived from the parent."""
    fake, engine = server
    clock = Clock(datetime.now(UTC))
    params = PlanParams(
        max_notional_per_trade=D(100000),
        cost_margin_bps=D(60),
        order_style="limit_ioc",
        slice_notional=D(2000),
        slice_window_seconds=300,
    )
    s = Stack(fake.url, database_url, tmp_path, market, clock, params)
    try:
        await s.service.reconcile()
        await s.service.run_cycle()
        parent, first = s.orders()
        assert (parent.status, first.client_order_id) == ("WORKING", f"{parent.client_order_id}-s1")
        for _ in range(4):
            clock.advance(100)
            await s.service.tend_resting()
        parent, *slices = s.orders()
        assert parent.status == "SLICED"
        assert len(slices) == 3  # about 5 000 USDT in slices of at most 2 000
        sent = [o["clientOrderId"] for o in engine.orders]
        assert sent == [f"{parent.client_order_id}-s{k}" for k in (1, 2, 3)]
        assert all(o["type"] == "LIMIT" and o["timeInForce"] == "IOC" for o in engine.orders)
        assert all(D(o["origQty"]) * parent.reference_price <= D(2000) for o in engine.orders[:-1])
        await s.ledger_matches_exchange()
    finally:
        await s.close()
