from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import OrderRequest, OrderSide, OrderStatus
from backend.exchanges.errors import OrderRejectedError
from backend.exchanges.paper import PaperConfig, PaperExchange
from backend.tests.execution.fakes import FakeMarket, rules_for
from database.session import make_engine, make_session_factory

D = Decimal
T0 = datetime(2026, 11, 25, tzinfo=UTC)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def paper(sessions: sessionmaker[Session], market: FakeMarket, **config: object) -> PaperExchange:
    cfg = PaperConfig(**config)  # type: ignore[arg-type]
    return PaperExchange(
        sessions, book=market.order_book, rules=market.symbol_rules, config=lambda: cfg, clock=lambda: T0
    )


def buy(symbol: str, qty: str, coid: str = "c1") -> OrderRequest:
    return OrderRequest(symbol, OrderSide.BUY, D(qty), coid)


def sell(symbol: str, qty: str, coid: str = "c2") -> OrderRequest:
    return OrderRequest(symbol, OrderSide.SELL, D(qty), coid)


async def test_account_opens_with_the_starting_cash(sessions: sessionmaker[Session]) -> None:
    ex = paper(sessions, FakeMarket({"ETHUSDT": D(1000)}), starting_cash=D(2500))
    account = await ex.account()
    assert account.balances["USDT"].free == D(2500)


async def test_market_buy_walks_the_book_and_pays_the_fee_in_base(sessions: sessionmaker[Session]) -> None:
    market = FakeMarket({"ETHUSDT": D(1000)}, depth=D(1), spread_bps=D(0), level_bps=D(10))
    ex = paper(sessions, market, fee_bps=D(10))
    result = await ex.submit_order(buy("ETHUSDT", "2.5"))
    assert result.status is OrderStatus.FILLED
    assert [f.price for f in result.fills] == [D(1000), D(1001), D(1002)]
    assert [f.quantity for f in result.fills] == [D(1), D(1), D("0.5")]
    assert result.quote_quantity == D(1000) + D(1001) + D(501)
    assert all(f.fee_asset == "ETH" for f in result.fills)
    balances = (await ex.account()).balances
    assert balances["USDT"].free == D(10000) - result.quote_quantity
    assert balances["ETH"].free == D("2.5") - sum(f.fee for f in result.fills)


async def test_slippage_cap_expires_the_rest_of_a_market_order(sessions: sessionmaker[Session]) -> None:
    # levels 10 bps apart, cap 25 bps: only three levels are reachable
    market = FakeMarket({"ETHUSDT": D(1000)}, depth=D(1), spread_bps=D(0), level_bps=D(10))
    ex = paper(sessions, market, max_slippage_bps=D(25))
    result = await ex.submit_order(buy("ETHUSDT", "5"))
    assert result.status is OrderStatus.EXPIRED
    assert result.executed_quantity == D(3)


@pytest.mark.parametrize(
    ("request_", "code", "message"),
    [
        (buy("ETHUSDT", "0.0015"), -1013, "Filter failure: LOT_SIZE"),
        (buy("ETHUSDT", "0.001"), -1013, "Filter failure: NOTIONAL"),
        (buy("ETHUSDT", "20"), -2010, "Account has insufficient balance for requested action."),
        (sell("ETHUSDT", "1"), -2010, "Account has insufficient balance for requested action."),
        (buy("NOPEUSDT", "1"), -1121, "Invalid symbol."),
        (buy("HALTUSDT", "1"), -1013, "Market is closed."),
    ],
)
async def test_rejections_carry_binance_codes(
    sessions: sessionmaker[Session], request_: OrderRequest, code: int, message: str
) -> None:
    market = FakeMarket({"ETHUSDT": D(1000), "HALTUSDT": D(1)})
    market.rules["HALTUSDT"] = rules_for("HALTUSDT", status="HALT")
    ex = paper(sessions, market)
    with pytest.raises(OrderRejectedError) as caught:
        await ex.submit_order(request_)
    assert (caught.value.code, str(caught.value)) == (code, message)
    assert (await ex.account()).balances["USDT"].free == D(10000)


async def test_a_client_order_id_is_used_once(sessions: sessionmaker[Session]) -> None:
    ex = paper(sessions, FakeMarket({"ETHUSDT": D(1000)}))
    await ex.submit_order(buy("ETHUSDT", "1", "same"))
    with pytest.raises(OrderRejectedError) as caught:
        await ex.submit_order(buy("ETHUSDT", "1", "same"))
    assert caught.value.code == -2010
    assert len(await ex.trades("ETHUSDT")) == 1


async def test_account_and_orders_survive_a_restart(sessions: sessionmaker[Session], database_url: str) -> None:
    market = FakeMarket({"ETHUSDT": D(1000)})
    first = paper(sessions, market)
    placed = await first.submit_order(buy("ETHUSDT", "2", "keep"))
    await first.close()

    engine = make_engine(database_url)
    try:
        again = paper(make_session_factory(engine), market)
        found = await again.query_order("ETHUSDT", "keep")
        assert found is not None
        assert (found.status, found.executed_quantity, found.fills) == (placed.status, D(2), placed.fills)
        assert (await again.account()).balances["USDT"].free == D(10000) - placed.quote_quantity
        assert await again.query_order("ETHUSDT", "never-sent") is None
    finally:
        engine.dispose()


async def test_sell_pays_the_fee_in_quote(sessions: sessionmaker[Session]) -> None:
    market = FakeMarket({"ETHUSDT": D(1000)}, spread_bps=D(0))
    ex = paper(sessions, market, fee_bps=D(10))
    bought = await ex.submit_order(buy("ETHUSDT", "1"))
    held = (await ex.account()).balances["ETH"].free
    sold = await ex.submit_order(sell("ETHUSDT", str(held)))
    assert sold.status is OrderStatus.FILLED
    assert sold.fills[0].fee_asset == "USDT"
    assert sold.fills[0].fee == (sold.quote_quantity * D("0.001")).quantize(D("0.00000001"))
    usdt = (await ex.account()).balances["USDT"].free
    assert usdt == D(10000) - bought.quote_quantity + sold.quote_quantity - sold.fills[0].fee


def test_walk_book_by_quote_spends_at_most_the_amount() -> None:
    from backend.exchanges.paper import walk_book_quote
    from backend.market.types import BookLevel

    levels = tuple(BookLevel(Decimal(3000) + i, Decimal("0.05")) for i in range(40))
    matches, spent = walk_book_quote(levels, Decimal("999"), limit_price=Decimal(3100), step=Decimal("0.001"))
    cost = sum(m.price * m.quantity for m in matches)
    assert spent
    assert Decimal(999) - Decimal("3.1") < cost <= Decimal(999)
    thin, spent = walk_book_quote(levels[:2], Decimal("999"), limit_price=Decimal(3100), step=Decimal("0.001"))
    assert not spent
    assert sum(m.quantity for m in thin) == Decimal("0.1")
