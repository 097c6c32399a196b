"""LIMIT IOC through the real python-binance client against the local Binance server: sent with
price and timeInForce IOC, never filled past its price, the rest expired; PRICE_FILTER and
PERCENT_PRICE_BY_SIDE refusals come back as -1013 with the filter's name."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.exchanges.base import OrderRequest, OrderSide, OrderStatus, OrderType
from backend.exchanges.binance import BinanceExchange
from backend.exchanges.errors import OrderRejectedError
from backend.execution.styles import bound_price
from backend.market.sources.simulated import SimulatedMarket
from backend.tests.fakes.binance_account import MatchingEngine
from backend.tests.fakes.binance_server import FakeBinance

D = Decimal


def limit_ioc(side: OrderSide, qty: Decimal, price: Decimal, coid: str) -> OrderRequest:
    return OrderRequest("ETHUSDT", side, qty, coid, order_type=OrderType.LIMIT, price=price, time_in_force="IOC")


async def test_a_limit_ioc_fills_inside_its_price_and_expires_the_rest(
    server: tuple[FakeBinance, MatchingEngine], market: SimulatedMarket
) -> None:
    fake, engine = server
    engine.balances["USDT"] = D(10) ** 9  # enough to take every level inside the bound
    ex = BinanceExchange(api_key="fake-api-key", api_secret="fake-api-secret", base_url=fake.url, timeout=5.0)
    try:
        book = market.order_book("ETHUSDT", 100)
        rules = market.symbol_rules()["ETHUSDT"]
        mid = (book.bids[0].price + book.asks[0].price) / 2
        price = bound_price(OrderSide.BUY, mid, D(15), rules.tick_size)
        inside = sum((lvl.qty for lvl in book.asks if lvl.price <= price), D(0))
        wanted = ((inside + D(1)) / rules.step_size).to_integral_value() * rules.step_size  # more than the bound holds
        result = await ex.submit_order(limit_ioc(OrderSide.BUY, wanted, price, "qt-ioc-1"))
        assert inside > 0
        assert result.status is OrderStatus.EXPIRED
        assert result.executed_quantity == inside
        assert all(f.price <= price for f in result.fills)
        sent = [r for r in fake.requests if r.path == "/api/v3/order" and r.method == "POST"][-1]
        assert (sent.params["type"], sent.params["timeInForce"]) == ("LIMIT", "IOC")
        assert D(sent.params["price"]) == price
        found = await ex.query_order("ETHUSDT", "qt-ioc-1")
        assert found is not None
        assert found.executed_quantity == inside

        off_tick = price + rules.tick_size / 2
        with pytest.raises(OrderRejectedError, match="PRICE_FILTER") as caught:
            await ex.submit_order(limit_ioc(OrderSide.BUY, D("0.01"), off_tick, "qt-ioc-2"))
        assert caught.value.code == -1013
        far = (mid * 6 / rules.tick_size).to_integral_value() * rules.tick_size  # above 5 × the average
        with pytest.raises(OrderRejectedError, match="PERCENT_PRICE_BY_SIDE") as side_caught:
            await ex.submit_order(limit_ioc(OrderSide.BUY, D("0.01"), far, "qt-ioc-3"))
        assert side_caught.value.code == -1013
    finally:
        await ex.close()
