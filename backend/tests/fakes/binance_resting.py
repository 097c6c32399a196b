"""Resting orders of the local Binance server: market trades through them, and their cancellation
(DELETE /api/v3/order with Binance's answer shape and -2011 for an order that is not open)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from backend.tests.fakes.binance_placement import book_trade
from backend.tests.fakes.binance_server import BinanceAPIError, FakeBinance, FakeRequest

if TYPE_CHECKING:
    from backend.tests.fakes.binance_account import MatchingEngine


def _s(value: Decimal) -> str:
    return f"{value:.8f}"


def trade_through(
    engine: MatchingEngine, server: FakeBinance, symbol: str, price: Decimal, quantity: Decimal
) -> Decimal:
    """The market trades `quantity` at `price`: resting buys at or above it and resting sales at
    or below it fill at their own price, oldest first, as makers; returns the quantity filled.
    (The fake's resting orders fill only this way, so a test decides when and how much.)"""
    rules = server.market.symbol_rules()[symbol]
    left = quantity
    with engine.lock:
        now_ms = server.server_time_ms()
        for order in engine.orders:
            if left <= 0:
                break
            if order["symbol"] != symbol or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
                continue
            limit = Decimal(order["price"])
            if (order["side"] == "BUY" and limit < price) or (order["side"] == "SELL" and limit > price):
                continue
            open_qty = Decimal(order["origQty"]) - Decimal(order["executedQty"])
            take = min(open_qty, left)
            left -= take
            pay = rules.quote_asset if order["side"] == "BUY" else rules.base_asset
            engine.locked[pay] -= take * limit if order["side"] == "BUY" else take
            book_trade(
                engine,
                symbol,
                order["orderId"],
                order["side"],
                limit,
                take,
                (rules.base_asset, rules.quote_asset),
                now_ms,
                maker=True,
            )
            order["executedQty"] = _s(Decimal(order["executedQty"]) + take)
            order["cummulativeQuoteQty"] = _s(Decimal(order["cummulativeQuoteQty"]) + take * limit)
            order["status"] = "FILLED" if take == open_qty else "PARTIALLY_FILLED"
            order["updateTime"] = now_ms
        engine.save()
    return quantity - left


def cancel_order(engine: MatchingEngine, server: FakeBinance, request: FakeRequest) -> dict[str, Any]:
    try:
        found = engine._find(server, request)
    except BinanceAPIError as exc:
        if exc.code == -2013:
            raise BinanceAPIError(400, -2011, "Unknown order sent.") from None
        raise
    rules = server.market.symbol_rules()[found["symbol"]]
    with engine.lock:
        order = next(o for o in engine.orders if o["orderId"] == found["orderId"])
        if order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            raise BinanceAPIError(400, -2011, "Unknown order sent.")
        rest = Decimal(order["origQty"]) - Decimal(order["executedQty"])
        asset, held = (
            (rules.quote_asset, rest * Decimal(order["price"])) if order["side"] == "BUY" else (rules.base_asset, rest)
        )
        engine.locked[asset] -= held
        engine.balances[asset] = engine.balances.get(asset, Decimal(0)) + held
        now_ms = server.server_time_ms()
        order["status"] = "CANCELED"
        order["updateTime"] = now_ms
        engine.save()
        answer = {k: v for k, v in order.items() if k not in ("time", "updateTime", "isWorking", "workingTime")}
    answer["origClientOrderId"] = order["clientOrderId"]
    answer["clientOrderId"] = request.params.get("newClientOrderId") or f"cancel-{order['orderId']}"
    answer["transactTime"] = now_ms
    return answer
