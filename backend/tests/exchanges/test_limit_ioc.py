"""QT_EXECUTION_ORDER_STYLE=limit_ioc: the bound price on the tick grid, LIMIT IOC on the paper
exchange (never past its price, the rest expires, PRICE_FILTER applied, FOK refused),
and a whole cycle sent as LIMIT IOC whose fills stay inside the slippage bound."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import OrderRequest, OrderSide, OrderStatus, OrderType
from backend.exchanges.errors import OrderRejectedError
from backend.exchanges.paper import PaperConfig, PaperExchange
from backend.execution.planner import PlanParams
from backend.execution.shortfall import shortfall_of
from backend.execution.styles import bound_price, style_fields
from backend.tests.execution.fakes import FakeMarket
from backend.tests.execution.harness import build
from database.models.execution import Order
from database.session import make_engine, make_session_factory

D = Decimal
T0 = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def paper(sessions: sessionmaker[Session], market: FakeMarket) -> PaperExchange:
    cfg = PaperConfig()
    return PaperExchange(
        sessions, book=market.order_book, rules=market.symbol_rules, config=lambda: cfg, clock=lambda: T0
    )


def limit_ioc(side: OrderSide, qty: str, price: str, coid: str = "l1") -> OrderRequest:
    return OrderRequest("ETHUSDT", side, D(qty), coid, order_type=OrderType.LIMIT, price=D(price), time_in_force="IOC")


def test_the_bound_price_is_rounded_toward_the_mark() -> None:
    # 1000.037 × 1.0025 = 1002.537...: a buy's limit is floored, a sale's (997.537...) raised
    assert bound_price(OrderSide.BUY, D("1000.037"), D(25), D("0.01")) == D("1002.53")
    assert bound_price(OrderSide.SELL, D("1000.037"), D(25), D("0.01")) == D("997.54")
    assert bound_price(OrderSide.BUY, D(1000), D(25), D(0)) == D("1002.5")
    fields = style_fields("limit_ioc", OrderSide.BUY, D(1000), D(25), D("0.01"), D(500))
    assert fields == {
        "order_type": OrderType.LIMIT,
        "price": D("1002.50"),
        "time_in_force": "IOC",
        "quote_quantity": None,
    }
    assert style_fields("market", OrderSide.BUY, D(1000), D(25), D("0.01"), D(500))["quote_quantity"] == D(500)


async def test_a_limit_ioc_never_fills_past_its_price_and_the_rest_expires(sessions: sessionmaker[Session]) -> None:
    # asks at 1000, 1001, 1002, ... one ETH each
    market = FakeMarket({"ETHUSDT": D(1000)}, depth=D(1), spread_bps=D(0), level_bps=D(10))
    ex = paper(sessions, market)
    result = await ex.submit_order(limit_ioc(OrderSide.BUY, "5", "1001.50"))
    assert result.status is OrderStatus.EXPIRED
    assert [f.price for f in result.fills] == [D(1000), D(1001)]
    assert result.executed_quantity == D(2)
    sold = await ex.submit_order(limit_ioc(OrderSide.SELL, "1", "999.00", coid="l2"))
    assert sold.status is OrderStatus.FILLED
    assert all(f.price >= D(999) for f in sold.fills)
    # a price above the best ask fills nothing past it; a price below every ask fills nothing at all
    nothing = await ex.submit_order(limit_ioc(OrderSide.BUY, "1", "999.00", coid="l3"))
    assert (nothing.status, nothing.executed_quantity) == (OrderStatus.EXPIRED, D(0))


async def test_limit_orders_the_paper_exchange_does_not_take_are_refused(sessions: sessionmaker[Session]) -> None:
    ex = paper(sessions, FakeMarket({"ETHUSDT": D(1000)}))
    off_tick = limit_ioc(OrderSide.BUY, "1", "1000.005")
    with pytest.raises(OrderRejectedError, match="Filter failure: PRICE_FILTER") as caught:
        await ex.submit_order(off_tick)
    assert caught.value.code == -1013
    fok = OrderRequest(
        "ETHUSDT", OrderSide.BUY, D(1), "g1", order_type=OrderType.LIMIT, price=D(1000), time_in_force="FOK"
    )
    with pytest.raises(OrderRejectedError) as refused:
        await ex.submit_order(fok)
    assert refused.value.code == -1014
    no_price = OrderRequest("ETHUSDT", OrderSide.BUY, D(1), "n1", order_type=OrderType.LIMIT, time_in_force="IOC")
    with pytest.raises(OrderRejectedError) as missing:
        await ex.submit_order(no_price)
    assert missing.value.code == -1102


async def test_a_limit_ioc_cycle_stays_inside_the_slippage_bound(database_url: str, tmp_path: Path) -> None:
    # a thin book: 0.5 base per level, levels 10 bps apart; the bound is 15 bps, the paper cap 50
    market = FakeMarket({"BTCUSDT": D(50000), "ETHUSDT": D(3000)}, depth=D("0.05"), spread_bps=D(2), level_bps=D(10))
    params = PlanParams(
        cost_margin_bps=D(60), max_notional_per_trade=D(100000), order_style="limit_ioc", max_slippage_bps=D(15)
    )
    h = build(database_url, tmp_path, market, weights={"BTCUSDT": D("0.5"), "ETHUSDT": D("0.5")}, params=params)
    try:
        await h.service.reconcile()
        report = await h.service.run_cycle()
        assert report.submitted == 2, report
        with h.sessions() as session:
            orders = list(session.query(Order).all())
        assert {o.order_type for o in orders} == {"LIMIT"}
        for order in orders:
            assert order.reference_price is not None
            assert order.status in ("FILLED", "EXPIRED")
            assert order.executed_quantity > 0  # the first levels are inside the bound
            found = shortfall_of(order.side, order.reference_price, order.executed_quantity, order.quote_quantity)
            assert found is not None
            assert 0 < found.bps <= 15
        # the thin book could not fill everything inside 15 bps: what was left expired
        assert any(o.status == "EXPIRED" and o.executed_quantity < o.requested_quantity for o in orders)
    finally:
        h.close()
