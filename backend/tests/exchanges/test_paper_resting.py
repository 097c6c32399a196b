"""Resting orders on the paper exchange: LIMIT_MAKER refused when it would cross (-2010), resting
with its funds locked, filled at its price and the maker fee once the book or a bar trades through
it (partially by volume), cancelled, expired, and still there after a restart."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import OrderRequest, OrderSide, OrderStatus, OrderType, RestingOrders
from backend.exchanges.errors import OrderRejectedError
from backend.exchanges.paper import PaperConfig, PaperExchange
from backend.market.types import Kline
from backend.tests.execution.fakes import NOW, Clock, FakeMarket
from database.session import make_engine, make_session_factory

D = Decimal


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@dataclasses.dataclass
class Bars:
    """Closed bars handed to the paper exchange (what the market did after an order was placed)."""

    bars: list[Kline] = dataclasses.field(default_factory=list)

    def add(self, close_time: datetime, low: str, high: str, volume: str) -> None:
        self.bars.append(
            Kline("ETHUSDT", "1m", close_time - timedelta(minutes=1), close_time, D(high), D(high), D(low), D(low),
                  D(volume), D(volume) * D(low))
        )  # fmt: skip

    async def __call__(self, symbol: str, since: datetime, until: datetime) -> Sequence[Kline]:
        return [b for b in self.bars if b.symbol == symbol and since < b.close_time <= until]


def paper(
    sessions: sessionmaker[Session], market: FakeMarket, clock: Clock, bars: Bars | None = None, **config: object
) -> PaperExchange:
    cfg = PaperConfig(**{"fee_bps": D(10), "maker_fee_bps": D(2), **config})  # type: ignore[arg-type]
    return PaperExchange(
        sessions, book=market.order_book, rules=market.symbol_rules, config=lambda: cfg, clock=clock, bars=bars
    )


def maker(side: OrderSide, qty: str, price: str, coid: str = "m1") -> OrderRequest:
    return OrderRequest("ETHUSDT", side, D(qty), coid, order_type=OrderType.LIMIT_MAKER, price=D(price))


def setup(depth: str = "1") -> tuple[FakeMarket, Clock]:
    # no spread: bid = ask = 1000 at the top, levels 10 bps (1.00) apart, `depth` ETH each
    market = FakeMarket({"ETHUSDT": D(1000)}, depth=D(depth), spread_bps=D(0), level_bps=D(10))
    return market, Clock(NOW, market)


async def test_a_limit_maker_that_would_take_is_refused(sessions: sessionmaker[Session]) -> None:
    market, clock = setup()
    ex = paper(sessions, market, clock)
    assert isinstance(ex, RestingOrders)
    with pytest.raises(OrderRejectedError, match=r"Order would immediately match and take\.") as caught:
        await ex.submit_order(maker(OrderSide.BUY, "1", "1000.00"))
    assert caught.value.code == -2010
    assert await ex.open_orders() == []
    off_band = maker(OrderSide.BUY, "1", "100.00", "m2")  # below 0.2 × the mid
    ex_rules = {"ETHUSDT": dataclasses.replace(market.rules["ETHUSDT"], bid_multiplier_down=D("0.2"))}
    market.rules.update(ex_rules)
    with pytest.raises(OrderRejectedError, match="Filter failure: PERCENT_PRICE_BY_SIDE"):
        await ex.submit_order(off_band)


async def test_a_resting_buy_locks_its_cash_and_fills_at_its_price_when_the_book_moves_onto_it(
    sessions: sessionmaker[Session],
) -> None:
    market, clock = setup(depth="0.4")
    ex = paper(sessions, market, clock)
    placed = await ex.submit_order(maker(OrderSide.BUY, "1", "999.00"))
    assert (placed.status, placed.executed_quantity, placed.price) == (OrderStatus.NEW, D(0), D("999.00"))
    usdt = (await ex.account()).balances["USDT"]
    assert (usdt.free, usdt.locked) == (D(10000) - D(999), D(999))
    # the book stays where it is: nothing fills, however often it is looked at
    for _ in range(3):
        clock.advance(60)
        assert (await ex.query_order("ETHUSDT", "m1")).status is OrderStatus.NEW  # type: ignore[union-attr]
    # the market falls 0.15 %: asks at 998.50, 999.50, ... -> one level (0.4 ETH) at or below 999
    market.prices["ETHUSDT"] = D("998.50")
    clock.advance(1)
    partial = await ex.query_order("ETHUSDT", "m1")
    assert partial is not None
    assert (partial.status, partial.executed_quantity) == (OrderStatus.PARTIALLY_FILLED, D("0.4"))
    assert [(f.price, f.quantity, f.fee, f.fee_asset) for f in partial.fills] == [
        (D("999.00"), D("0.4"), D("0.00008"), "ETH")  # maker fee 2 bps, in the asset received
    ]
    assert [o.client_order_id for o in await ex.open_orders("ETHUSDT")] == ["m1"]
    # a partial fill, then cancel: the rest's cash comes back, the bought part stays
    cancelled = await ex.cancel_order("ETHUSDT", "m1")
    assert cancelled is not None
    assert (cancelled.status, cancelled.executed_quantity) == (OrderStatus.CANCELED, D("0.4"))
    balances = (await ex.account()).balances
    assert (balances["USDT"].free, balances["USDT"].locked) == (D(10000) - D("399.6"), D(0))
    assert balances["ETH"].free == D("0.4") - D("0.00008")
    assert await ex.open_orders() == []
    again = await ex.cancel_order("ETHUSDT", "m1")  # cancelling a final order returns it as it is
    assert again is not None
    assert again.status is OrderStatus.CANCELED
    assert await ex.cancel_order("ETHUSDT", "never-sent") is None


async def test_bars_that_trade_through_fill_a_resting_sale_by_volume(sessions: sessionmaker[Session]) -> None:
    market, clock = setup()
    bars = Bars()
    ex = paper(sessions, market, clock, bars, fill_volume_share=D("0.5"))
    await ex.submit_order(OrderRequest("ETHUSDT", OrderSide.BUY, D(2), "b1"))  # taker: 2 ETH to sell
    held = (await ex.account()).balances["ETH"].free
    placed = await ex.submit_order(maker(OrderSide.SELL, "1.5", "1002.00", "s1"))
    assert placed.status is OrderStatus.NEW
    assert (await ex.account()).balances["ETH"].locked == D("1.5")
    # a bar that only touches the price fills nothing; one through it fills half its volume
    bars.add(NOW + timedelta(minutes=1), low="999", high="1002.00", volume="10")
    bars.add(NOW + timedelta(minutes=2), low="1000", high="1003", volume="1")
    clock.advance(150)
    first = await ex.query_order("ETHUSDT", "s1")
    assert first is not None
    assert (first.status, first.executed_quantity) == (OrderStatus.PARTIALLY_FILLED, D("0.5"))
    assert first.fills[0].price == D("1002.00")  # its own price, not the bar's high
    # the same bars are never matched twice; a later bar fills the rest
    assert (await ex.query_order("ETHUSDT", "s1")).executed_quantity == D("0.5")  # type: ignore[union-attr]
    bars.add(NOW + timedelta(minutes=3), low="1000", high="1010", volume="100")
    clock.advance(60)
    done = await ex.query_order("ETHUSDT", "s1")
    assert done is not None
    assert (done.status, done.executed_quantity, done.quote_quantity) == (OrderStatus.FILLED, D("1.5"), D("1503"))
    balances = (await ex.account()).balances
    assert (balances["ETH"].free, balances["ETH"].locked) == (held - D("1.5"), D(0))


async def test_a_resting_order_expires_after_its_ttl_and_survives_a_restart(sessions: sessionmaker[Session]) -> None:
    market, clock = setup()
    await paper(sessions, market, clock, order_ttl_seconds=600).submit_order(maker(OrderSide.BUY, "1", "990.00"))
    # a new adapter on the same tables (a restart) still sees it, and it expires on time
    restarted = paper(sessions, market, clock, order_ttl_seconds=600)
    clock.advance(599)
    assert [o.client_order_id for o in await restarted.open_orders()] == ["m1"]
    clock.advance(1)
    expired = await restarted.query_order("ETHUSDT", "m1")
    assert expired is not None
    assert expired.status is OrderStatus.EXPIRED
    usdt = (await restarted.account()).balances["USDT"]
    assert (usdt.free, usdt.locked) == (D(10000), D(0))


async def test_a_limit_gtc_takes_what_crosses_and_rests_the_rest(sessions: sessionmaker[Session]) -> None:
    market, clock = setup()
    ex = paper(sessions, market, clock)
    request = OrderRequest("ETHUSDT", OrderSide.BUY, D(3), "g1", order_type=OrderType.LIMIT, price=D("1001.00"))
    result = await ex.submit_order(request)
    # asks 1000 and 1001 are taken now (taker fee 10 bps); one ETH rests at 1001
    assert (result.status, result.executed_quantity) == (OrderStatus.PARTIALLY_FILLED, D(2))
    assert [f.fee for f in result.fills] == [D("0.001"), D("0.001")]
    usdt = (await ex.account()).balances["USDT"]
    assert (usdt.free, usdt.locked) == (D(10000) - D(2001) - D(1001), D(1001))
    assert (await ex.open_orders())[0].open_quantity == D(1)
    # the liquidity it met is not there twice; a later book still offering 1000-1001 fills the rest
    clock.advance(60)
    done = await ex.query_order("ETHUSDT", "g1")
    assert done is not None
    assert (done.status, done.executed_quantity) == (OrderStatus.FILLED, D(3))
    assert done.fills[-1].price == D("1001.00")
    assert done.fills[-1].fee == D("0.0002")  # the resting part paid the maker fee
