"""The local Binance server's order faults, through the real adapter (python-binance): a stalled
order that executes late, fills away from the book, and MARKET buys by quoteOrderQty under both."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from backend.exchanges.base import OrderRequest, OrderSide, OrderStatus
from backend.exchanges.binance import BinanceExchange
from backend.exchanges.errors import UnknownOutcomeError
from backend.tests.fakes.binance_account import MatchingEngine
from backend.tests.fakes.binance_server import FakeBinance

D = Decimal


def adapter(url: str, timeout: float = 5.0) -> BinanceExchange:
    return BinanceExchange(api_key="fake-api-key", api_secret="fake-api-secret", base_url=url, timeout=timeout)


async def test_a_stalled_order_executes_only_after_n_lookups(server: tuple[FakeBinance, MatchingEngine]) -> None:
    fake, engine = server
    engine.answer_late(after_lookups=2, hold_seconds=2.0)
    sender = adapter(fake.url, timeout=0.5)
    # lookups through a client of the usual timeout: on a loaded machine a 0.5 s one could time
    # out on an answer that is not held, which is not what this test is about
    ex = adapter(fake.url)
    request = OrderRequest("ETHUSDT", OrderSide.BUY, D("0.2"), "qt-1-ETHUSDT-B", quote_quantity=D("500"))
    with pytest.raises(UnknownOutcomeError):
        await sender.submit_order(request)  # the answer is held past the client's timeout
    assert engine.orders == []
    assert engine.balances == {"USDT": D(10000)}
    assert await ex.query_order("ETHUSDT", "qt-1-ETHUSDT-B") is None
    assert await ex.orders("ETHUSDT") == []  # a search of the symbol's orders is a lookup too
    assert await ex.query_order("BTCUSDT", "qt-1-ETHUSDT-B") is None  # another symbol: not a lookup of it
    found = await ex.query_order("ETHUSDT", "qt-1-ETHUSDT-B")  # the third lookup: executed now
    assert found is not None
    assert found.status is OrderStatus.FILLED
    assert 0 < found.quote_quantity <= D(500)
    assert [o["clientOrderId"] for o in engine.orders] == ["qt-1-ETHUSDT-B"]
    assert engine.balances["ETH"] > 0
    assert engine.balances["USDT"] == D(10000) - found.quote_quantity
    assert len(await ex.trades("ETHUSDT")) == len(engine.trades) > 0
    await sender.close()
    await ex.close()


async def test_a_late_answer_without_a_stall_is_a_5xx_of_unknown_outcome(
    server: tuple[FakeBinance, MatchingEngine],
) -> None:
    fake, engine = server
    engine.answer_late(after_lookups=0)
    ex = adapter(fake.url)
    with pytest.raises(UnknownOutcomeError):
        await ex.submit_order(OrderRequest("ETHUSDT", OrderSide.BUY, D("0.1"), "qt-2-ETHUSDT-B"))
    found = await ex.query_order("ETHUSDT", "qt-2-ETHUSDT-B")
    assert found is not None
    assert found.executed_quantity == D("0.1")
    # the next order is answered at once again
    again = await ex.submit_order(OrderRequest("ETHUSDT", OrderSide.BUY, D("0.1"), "qt-3-ETHUSDT-B"))
    assert again.status is OrderStatus.FILLED
    await ex.close()


@pytest.mark.parametrize("side", [OrderSide.BUY, OrderSide.SELL])
async def test_fills_away_from_the_book_against_the_taker(
    server: tuple[FakeBinance, MatchingEngine], side: OrderSide
) -> None:
    fake, engine = server
    engine.balances["ETH"] = D(1)
    book = fake.market.order_book("ETHUSDT", 5)
    top = book.asks[0].price if side is OrderSide.BUY else book.bids[0].price
    engine.fill_away(D(8))
    ex = adapter(fake.url)
    result = await ex.submit_order(OrderRequest("ETHUSDT", side, D("0.1"), f"qt-4-ETHUSDT-{side.value[0]}"))
    price = result.quote_quantity / result.executed_quantity
    if side is OrderSide.BUY:
        assert price >= top * D("1.08")
    else:
        assert price <= top * D("0.92")
    assert engine.away_filled == {1: D(8) if side is OrderSide.BUY else D(-8)}
    normal = await ex.submit_order(OrderRequest("ETHUSDT", side, D("0.1"), f"qt-5-ETHUSDT-{side.value[0]}"))
    assert abs(normal.quote_quantity / normal.executed_quantity / top - 1) < D("0.01")  # once only
    await ex.close()


async def test_a_buy_by_quote_amount_filled_away_still_spends_at_most_its_quote(
    server: tuple[FakeBinance, MatchingEngine],
) -> None:
    fake, engine = server
    engine.fill_away(D(15))
    ex = adapter(fake.url)
    request = OrderRequest("BTCUSDT", OrderSide.BUY, D("0.05"), "qt-6-BTCUSDT-B", quote_quantity=D("1000"))
    result = await ex.submit_order(request)
    assert D(990) < result.quote_quantity <= D(1000)
    ask = fake.market.order_book("BTCUSDT", 1).asks[0].price
    assert result.executed_quantity < D(1000) / ask  # fewer coins for the money
    assert engine.orders[0]["origQuoteOrderQty"] == "1000.00000000"
    await ex.close()


async def test_a_stalled_order_with_a_delay_executes_on_its_own_once_the_delay_has_passed(
    server: tuple[FakeBinance, MatchingEngine],
) -> None:
    fake, engine = server
    engine.answer_late(after_seconds=0.3)
    ex = adapter(fake.url)
    with pytest.raises(UnknownOutcomeError):
        await ex.submit_order(OrderRequest("ETHUSDT", OrderSide.BUY, D("0.1"), "qt-8-ETHUSDT-B"))
    assert await ex.query_order("ETHUSDT", "qt-8-ETHUSDT-B") is None  # lookups do not hurry it
    assert await ex.query_order("ETHUSDT", "qt-8-ETHUSDT-B") is None
    await asyncio.sleep(0.4)  # the exchange's delay, in wall-clock time
    account = await ex.account()  # any account request after the delay: it has executed
    assert account.balances["ETH"].free > 0
    found = await ex.query_order("ETHUSDT", "qt-8-ETHUSDT-B")
    assert found is not None
    assert found.executed_quantity == D("0.1")
    await ex.close()
