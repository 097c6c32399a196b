"""Resting orders through the real python-binance client against the local Binance server:
LIMIT_MAKER sent without timeInForce and refused (-2010) when it would cross, resting with its
funds locked, listed in openOrders, partially filled by a market trade, cancelled (the answer names
the original client id), a second cancel answered with the order as it is, PERCENT_PRICE_BY_SIDE."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.exchanges.base import OrderRequest, OrderSide, OrderStatus, OrderType, RestingOrders
from backend.exchanges.binance import BinanceExchange
from backend.exchanges.errors import OrderRejectedError
from backend.market.sources.simulated import SimulatedMarket
from backend.tests.fakes.binance_account import MatchingEngine
from backend.tests.fakes.binance_server import FakeBinance

D = Decimal


def maker(side: OrderSide, qty: Decimal, price: Decimal, coid: str) -> OrderRequest:
    return OrderRequest("ETHUSDT", side, qty, coid, order_type=OrderType.LIMIT_MAKER, price=price)


async def test_a_limit_maker_rests_fills_in_part_and_is_cancelled(
    server: tuple[FakeBinance, MatchingEngine], market: SimulatedMarket
) -> None:
    fake, engine = server
    ex = BinanceExchange(api_key="fake-api-key", api_secret="fake-api-secret", base_url=fake.url, timeout=5.0)
    assert isinstance(ex, RestingOrders)
    try:
        book = market.order_book("ETHUSDT", 5)
        bid, ask = book.bids[0].price, book.asks[0].price
        with pytest.raises(OrderRejectedError, match="would immediately match") as crossing:
            await ex.submit_order(maker(OrderSide.BUY, D("0.1"), ask, "qt-mk-0"))
        assert crossing.value.code == -2010

        placed = await ex.submit_order(maker(OrderSide.BUY, D("0.5"), bid, "qt-mk-1"))
        assert (placed.status, placed.executed_quantity, placed.price) == (OrderStatus.NEW, D(0), bid)
        assert placed.order_type is OrderType.LIMIT_MAKER
        sent = [r for r in fake.requests if r.path == "/api/v3/order" and r.method == "POST"][-1]
        assert sent.params["type"] == "LIMIT_MAKER"
        assert "timeInForce" not in sent.params
        usdt = (await ex.account()).balances["USDT"]
        assert (usdt.free, usdt.locked) == (D(10000) - D("0.5") * bid, D("0.5") * bid)
        assert [o.client_order_id for o in await ex.open_orders("ETHUSDT")] == ["qt-mk-1"]
        assert [o.client_order_id for o in await ex.open_orders()] == ["qt-mk-1"]

        # a seller hits the bid for 0.2: a partial fill at the order's price, as maker
        assert engine.trade(fake, "ETHUSDT", bid, D("0.2")) == D("0.2")
        partial = await ex.query_order("ETHUSDT", "qt-mk-1")
        assert partial is not None
        assert (partial.status, partial.executed_quantity, partial.open_quantity) == (
            OrderStatus.PARTIALLY_FILLED,
            D("0.2"),
            D("0.3"),
        )
        fills = [f for f in await ex.trades("ETHUSDT") if f.order_id == partial.exchange_order_id]
        assert [(f.price, f.quantity) for f in fills] == [(bid, D("0.2"))]

        cancelled = await ex.cancel_order("ETHUSDT", "qt-mk-1")
        assert cancelled is not None
        assert (cancelled.client_order_id, cancelled.status, cancelled.executed_quantity) == (
            "qt-mk-1",
            OrderStatus.CANCELED,
            D("0.2"),
        )
        balances = (await ex.account()).balances
        assert (balances["USDT"].free, balances["USDT"].locked) == (D(10000) - D("0.2") * bid, D(0))
        assert await ex.open_orders() == []
        again = await ex.cancel_order("ETHUSDT", "qt-mk-1")  # -2011 -> the order as it is
        assert again is not None
        assert again.status is OrderStatus.CANCELED
        assert await ex.cancel_order("ETHUSDT", "qt-never") is None

        far = (bid / 6 / market.symbol_rules()["ETHUSDT"].tick_size).to_integral_value()
        with pytest.raises(OrderRejectedError, match="PERCENT_PRICE_BY_SIDE") as band:
            await ex.submit_order(
                maker(OrderSide.BUY, D("0.5"), far * market.symbol_rules()["ETHUSDT"].tick_size, "qt-mk-2")
            )
        assert band.value.code == -1013
    finally:
        await ex.close()


async def test_a_limit_gtc_rests_what_does_not_cross_and_fills_later(
    server: tuple[FakeBinance, MatchingEngine], market: SimulatedMarket
) -> None:
    fake, engine = server
    ex = BinanceExchange(api_key="fake-api-key", api_secret="fake-api-secret", base_url=fake.url, timeout=5.0)
    try:
        engine.balances["ETH"] = D(2)
        ask = market.order_book("ETHUSDT", 5).asks[0].price
        request = OrderRequest("ETHUSDT", OrderSide.SELL, D(1), "qt-gtc-1", order_type=OrderType.LIMIT, price=ask)
        placed = await ex.submit_order(request)
        assert placed.status is OrderStatus.NEW
        sent = [r for r in fake.requests if r.path == "/api/v3/order" and r.method == "POST"][-1]
        assert sent.params["timeInForce"] == "GTC"
        assert (await ex.account()).balances["ETH"].locked == D(1)
        engine.trade(fake, "ETHUSDT", ask, D(5))
        done = await ex.query_order("ETHUSDT", "qt-gtc-1")
        assert done is not None
        assert (done.status, done.quote_quantity) == (OrderStatus.FILLED, ask)
        assert (await ex.account()).balances["ETH"].locked == D(0)
    finally:
        await ex.close()
