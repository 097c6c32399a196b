"""An order filled across UTC midnight: the risk guard counts each fill on its own UTC day, as the
ledger does, while it trades and after a restart."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.exchanges.base import Fill, OrderRequest, OrderResult, OrderSide, OrderStatus, OrderType
from backend.execution.ledger import Ledger
from backend.execution.planner import PlanParams
from backend.risk.guard import RiskGuard
from backend.risk.store import RiskStateStore
from backend.tests.execution.fakes import Clock, FakeMarket
from backend.tests.execution.harness import build
from config.risk import RiskSettings
from database.session import make_engine, make_session_factory

DAY_1 = datetime(2026, 11, 25, tzinfo=UTC)
DAY_2 = DAY_1 + timedelta(days=1)
ONE_SALE_PART = Decimal("-82.719719807923169267707082")  # 2 ETH sold at 960.10, bought at ~1000.43
_risk = RiskSettings(_env_file=None, QT_MAX_NOTIONAL_PER_TRADE="100000")


def risk_settings() -> RiskSettings:
    return _risk


async def test_a_maker_sale_filled_at_2359_and_0000_30_counts_one_part_on_each_day_before_and_after_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    start = DAY_1.replace(hour=23, minute=50)
    market = FakeMarket({"ETHUSDT": Decimal(1000)}, spread_bps=Decimal(2), depth=Decimal(2))
    market.now = start
    clock = Clock(start, market)
    params = PlanParams(cost_margin_bps=Decimal(60), max_notional_per_trade=Decimal(100000))
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": Decimal("0.5")}, params=params, clock=clock)
    current = {"params": params}
    h.service._params = lambda: current["params"]  # type: ignore[method-assign]
    try:
        await h.service.reconcile()
        await h.service.run_cycle()  # a market buy of ~5 ETH at ~1000
        current["params"] = replace(params, order_style="maker_first", maker_timeout_seconds=900.0, maker_reprices=0)
        market.prices["ETHUSDT"] = Decimal(960)
        clock.advance(60 * 8)  # 23:58: sell everything as a maker, at a loss
        h.weights = {}
        await h.service.run_cycle()
        market.prices["ETHUSDT"] = Decimal("960.30")  # the bids reach the resting ask: 2 ETH fill
        clock.advance(60)  # 23:59
        await h.service.tend_resting()
        market.prices["ETHUSDT"] = Decimal("960.60")  # after midnight: 2 ETH more
        clock.advance(90)  # 00:00:30
        await h.service.tend_resting()

        ledger = h.service.ledger
        ledger_day_1 = ledger.realised_pnl_between(DAY_1, DAY_2)
        ledger_day_2 = ledger.realised_pnl_between(DAY_2, DAY_2 + timedelta(days=1))
        assert ledger_day_2 == ONE_SALE_PART
        assert ledger_day_1 == ONE_SALE_PART + Decimal("-5.0004978")  # the sale's first part + the buy's fees

        live_day_2 = h.guard.snapshot()
        assert live_day_2.realised_pnl_today == ONE_SALE_PART  # not -165.439439615846338535414164
        assert live_day_2.notional_today == Decimal("1920.20")  # 2 × 960.10: only the fill of day 2
        live_day_1 = h.guard.snapshot(DAY_2 - timedelta(seconds=1))
        assert live_day_1.realised_pnl_today == ledger_day_1

        h.close()
        h = build(database_url, tmp_path, market, weights={}, params=current["params"], clock=clock)
        await h.service.reconcile()  # restores the guard's executions from the ledger
        assert h.guard.snapshot().realised_pnl_today == ONE_SALE_PART
        assert h.guard.snapshot().notional_today == Decimal("1920.20")
        assert h.guard.snapshot(DAY_2 - timedelta(seconds=1)).realised_pnl_today == ledger_day_1
    finally:
        h.close()


# The property: random resting sales filled around midnight, looked at now and then (each look finds
# the fills since the last one, at the look's time, as the paper exchange does): the guard's day
# totals equal the ledger's per-day sums, live, after a restart on the same state store, and after
# a restore into an empty one.
_examples = itertools.count()
BASES = {"ETHUSDT": "ETH"}
looks = st.tuples(
    st.integers(min_value=0, max_value=2),  # which of three sale orders
    st.integers(min_value=-600, max_value=600),  # seconds from midnight
    st.decimals(min_value=Decimal("0.1"), max_value=Decimal("1.5"), places=1),  # quantity filled
    st.decimals(min_value=Decimal(0), max_value=Decimal("1.5"), places=2),  # fee, USDT
)
limit_prices = st.lists(st.decimals(min_value=Decimal(900), max_value=Decimal(1100), places=2), min_size=3, max_size=3)


def _answer(request: OrderRequest, fills: list[Fill]) -> OrderResult:
    """The exchange's state of the order after ``fills`` (cumulative, every fill listed)."""
    executed = sum((f.quantity for f in fills), Decimal(0))
    return OrderResult(
        request.symbol,
        request.client_order_id,
        "x",
        OrderStatus.FILLED if executed == request.quantity else OrderStatus.PARTIALLY_FILLED,
        request.side,
        request.quantity,
        executed,
        sum((f.price * f.quantity for f in fills), Decimal(0)),
        tuple(fills),
        time=fills[-1].time,
        price=request.price,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limits=limit_prices, program=st.lists(looks, min_size=1, max_size=12))
async def test_property_the_guards_day_totals_equal_the_ledgers_per_day_sums_around_midnight(
    database_url: str, tmp_path: Path, limits: list[Decimal], program: list[tuple[int, int, Decimal, Decimal]]
) -> None:
    n = next(_examples)
    end = DAY_2 + timedelta(minutes=15)
    engine = make_engine(database_url)
    ledger = Ledger(make_session_factory(engine), exchange=f"midnight{n}", quote_asset="USDT", clock=lambda: end)
    ledger.seed(Decimal(100000))
    stores = [RiskStateStore(f"sqlite:///{tmp_path / f'risk{n}-{i}.db'}") for i in range(2)]
    turnover: dict[date, Decimal] = {}

    def guard_on(store: RiskStateStore) -> RiskGuard:
        store.create()
        guard = RiskGuard(store, risk_settings, clock=lambda: end)
        guard.load()
        return guard

    async def look(guard: RiskGuard, request: OrderRequest, fills: list[Fill], new: Fill) -> None:
        """The ledger records the new fill, then the guard the order's state and realised PnL."""
        fills.append(new)
        result = _answer(request, fills)
        update = {"status": result.status.value, "result": result}
        ledger.apply([new], base_assets=BASES, client_order_id=request.client_order_id, order_update=update)
        pnl = ledger.order_realised_pnl(request.client_order_id)
        await guard.record_result(request, result, realised_pnl=pnl, now=new.time)
        turnover[new.time.date()] = turnover.get(new.time.date(), Decimal(0)) + new.price * new.quantity

    def days_agree(guard: RiskGuard) -> None:
        for day in (DAY_1, DAY_2):
            snapshot = guard.snapshot(day + timedelta(hours=12))
            assert snapshot.realised_pnl_today == ledger.realised_pnl_between(day, day + timedelta(days=1))
            assert snapshot.notional_today == turnover.get(day.date(), Decimal(0))

    try:
        guard = guard_on(stores[0])
        # the position the sales come out of: a market buy at 23:30
        buy = OrderRequest("ETHUSDT", OrderSide.BUY, Decimal(20), f"b{n}")
        sales = [
            OrderRequest("ETHUSDT", OrderSide.SELL, Decimal(18), f"s{n}-{i}", OrderType.LIMIT_MAKER, price=limits[i])
            for i in range(3)
        ]
        ledger.save_orders(
            None,
            [
                {"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value, "quantity": o.quantity}
                for o in (buy, *sales)
            ],
        )
        at_2330 = DAY_2 - timedelta(minutes=30)
        bought = Fill(f"{n}-b", "ETHUSDT", OrderSide.BUY, Decimal("1000.37"), Decimal(20), Decimal(2), "USDT", at_2330)
        await look(guard, buy, [], bought)
        fills: list[list[Fill]] = [[], [], []]
        for index, (which, offset, quantity, fee) in enumerate(sorted(program, key=lambda step: step[1])):
            sale = sales[which]
            when = DAY_2 + timedelta(seconds=offset)
            fill = Fill(f"{n}-{index}", "ETHUSDT", OrderSide.SELL, limits[which], quantity, fee, "USDT", when)
            await look(guard, sale, fills[which], fill)

        days_agree(guard)
        restored = ledger.executions_since(end - timedelta(days=2))
        restarted = guard_on(stores[0])
        assert restarted.restore_trades_sync(restored) == 0  # the live records already agree
        days_agree(restarted)
        empty = guard_on(stores[1])  # a state store that lost everything
        assert empty.restore_trades_sync(restored) == len(restored)
        days_agree(empty)
    finally:
        for store in stores:
            store.close()
        engine.dispose()
