"""Order placement in the local Binance server's matching engine: checks, matching, fees, locked funds.

Binance's checks and error codes, matching against the simulated book, taker fees in the asset
received, funds locked for resting orders.
``place_order(engine, server, request)`` is MatchingEngine's ``_place`` (binance_account.py);
``book_trade`` books one trade of an order, also for resting orders a test trades through
(binance_resting.py).
"""

from __future__ import annotations

import os
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from backend.exchanges.base import OrderSide, OrderType
from backend.exchanges.filters import filter_failure, percent_price_failure
from backend.tests.fakes.binance_order_faults import shifted
from backend.tests.fakes.binance_protocol import BinanceAPIError, FakeRequest
from backend.tests.fakes.binance_shapes import dec

if TYPE_CHECKING:
    from backend.tests.fakes.binance_account import MatchingEngine
    from backend.tests.fakes.binance_server import FakeBinance

FEE_RATE = Decimal("0.001")
FEE_QUANTUM = Decimal("0.00000001")


def place_order(engine: MatchingEngine, server: FakeBinance, request: FakeRequest) -> dict[str, Any]:
    """POST /api/v3/order: validate like Binance, match against the book, book the trades and the
    locked funds, rest what a GTC or LIMIT_MAKER order leaves; the answer in Binance's FULL shape."""
    symbol = request.require("symbol")
    side = request.require("side")
    order_type = request.require("type")
    rules = server.market.symbol_rules().get(symbol)
    if rules is None:
        raise BinanceAPIError(400, -1121, "Invalid symbol.")
    if side not in ("BUY", "SELL"):
        raise BinanceAPIError(400, -1117, "Invalid side.")
    if order_type not in ("MARKET", "LIMIT", "LIMIT_MAKER"):
        raise BinanceAPIError(400, -1116, "Invalid orderType.")
    limit_price: Decimal | None = None
    tif = "GTC"
    if order_type == "LIMIT":
        # price and timeInForce are mandatory; IOC expires what does not fill, GTC rests it
        tif = request.require("timeInForce")
        if tif not in ("IOC", "GTC"):
            raise BinanceAPIError(400, -1014, "Unsupported order combination")
    elif order_type == "LIMIT_MAKER" and "timeInForce" in request.params:
        raise BinanceAPIError(400, -1106, "Parameter 'timeInForce' sent when not required.")
    if order_type != "MARKET":
        try:
            limit_price = Decimal(request.require("price"))
        except ArithmeticError:
            raise BinanceAPIError(400, -1100, "Illegal characters found in parameter 'price'.") from None
    if not rules.is_trading:
        raise BinanceAPIError(400, -1013, "Market is closed.")
    client_id = request.params.get("newClientOrderId") or f"fake-{engine.next_order_id}"
    book = server.market.order_book(symbol, 100)
    top = book.asks[0].price if side == "BUY" else book.bids[0].price
    levels = book.asks if side == "BUY" else book.bids
    away = engine._take_away(side)
    if away is not None:
        levels = shifted(levels, away, rules.tick_size)
    quote_qty = request.params.get("quoteOrderQty")
    if quote_qty is not None and "quantity" not in request.params:
        # MARKET by quote amount: the quantity follows from the book (floored to the step)
        quantity = quantity_for_quote(Decimal(quote_qty), levels, rules)
    else:
        try:
            quantity = Decimal(request.require("quantity"))
        except ArithmeticError:
            raise BinanceAPIError(400, -1100, "Illegal characters found in parameter 'quantity'.") from None
    if limit_price is None:
        failure = filter_failure(rules, quantity, top, OrderType.MARKET)
    else:
        failure = filter_failure(rules, quantity, limit_price, OrderType.LIMIT) or percent_price_by_side(
            rules, side, limit_price, book
        )
    if failure:
        raise BinanceAPIError(400, -1013, f"Filter failure: {failure}")
    if order_type == "LIMIT_MAKER" and limit_price is not None and levels:
        top_price = levels[0].price
        if (side == "BUY" and top_price <= limit_price) or (side == "SELL" and top_price >= limit_price):
            raise BinanceAPIError(400, -2010, "Order would immediately match and take.")
    resting = order_type == "LIMIT_MAKER" or (order_type == "LIMIT" and tif == "GTC")
    with engine.lock:
        if any(o["clientOrderId"] == client_id and o["status"] in ("NEW", "PARTIALLY_FILLED") for o in engine.orders):
            raise BinanceAPIError(400, -2010, "Duplicate order sent.")
        matches: list[tuple[Decimal, Decimal]] = []
        remaining = quantity
        for level in () if order_type == "LIMIT_MAKER" else levels:
            if remaining <= 0:
                break
            if limit_price is not None and (
                (side == "BUY" and level.price > limit_price) or (side == "SELL" and level.price < limit_price)
            ):
                break  # IOC: nothing past the limit; the rest expires
            take = min(level.qty, remaining)
            matches.append((level.price, take))
            remaining -= take
        executed = quantity - remaining
        cost = sum((p * q for p, q in matches), Decimal(0))
        base, quote = rules.base_asset, rules.quote_asset
        lock = (remaining * limit_price if side == "BUY" else remaining) if resting and limit_price else Decimal(0)
        pay, needed = (quote, cost + lock) if side == "BUY" else (base, quantity)
        if engine.balances.get(pay, Decimal(0)) < needed:
            raise BinanceAPIError(400, -2010, "Account has insufficient balance for requested action.")
        now_ms = server.server_time_ms()
        order_id = engine.next_order_id
        if away is not None:
            engine.away_filled[order_id] = away
        engine.next_order_id += 1
        fills = [
            book_trade(engine, symbol, order_id, side, price, qty, (base, quote), now_ms, maker=False)
            for price, qty in matches
        ]
        engine.balances[pay] -= (cost if side == "BUY" else executed) + lock
        engine.locked[pay] = engine.locked.get(pay, Decimal(0)) + lock
        if resting:
            status = "FILLED" if remaining <= 0 else "PARTIALLY_FILLED" if executed > 0 else "NEW"
        else:
            status = "FILLED" if executed == quantity else "EXPIRED"
        order = {
            "symbol": symbol,
            "orderId": order_id,
            "orderListId": -1,
            "clientOrderId": client_id,
            "price": dec(limit_price) if limit_price is not None else "0.00000000",
            "origQty": dec(quantity),
            "executedQty": dec(executed),
            "cummulativeQuoteQty": dec(cost),
            "status": status,
            "timeInForce": tif,
            "type": order_type,
            "side": side,
            "time": now_ms,
            "updateTime": now_ms,
            "workingTime": now_ms,
            "isWorking": True,
            "origQuoteOrderQty": dec(Decimal(quote_qty)) if quote_qty is not None else "0.00000000",
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        engine.orders.append(order)
        engine.save()
        if engine.die_after_accept > 0:
            engine.die_after_accept -= 1
            if engine.die_after_accept == 0:
                os._exit(3)  # the process dies with the order accepted and the answer unsent
    if engine.stall_after_accept > 0:
        engine.stall_after_accept -= 1
        engine.release.wait(timeout=30)
    answer = {k: v for k, v in order.items() if k not in ("time", "updateTime", "isWorking")}
    answer["transactTime"] = now_ms
    answer["fills"] = fills
    return answer


def book_trade(
    engine: MatchingEngine,
    symbol: str,
    order_id: int,
    side: str,
    price: Decimal,
    qty: Decimal,
    assets: tuple[str, str],
    now_ms: int,
    *,
    maker: bool,
) -> dict[str, Any]:
    """Book one trade of an order: the fee in the asset received, that asset credited."""
    base, quote = assets
    gross = qty if side == "BUY" else price * qty
    fee = (gross * (engine.maker_fee_rate if maker else FEE_RATE)).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)
    receive = base if side == "BUY" else quote
    engine.balances[receive] = engine.balances.get(receive, Decimal(0)) + gross - fee
    trade = {
        "symbol": symbol,
        "id": engine.next_trade_id,
        "orderId": order_id,
        "orderListId": -1,
        "price": dec(price),
        "qty": dec(qty),
        "quoteQty": dec(price * qty),
        "commission": dec(fee),
        "commissionAsset": receive,
        "time": now_ms,
        "isBuyer": side == "BUY",
        "isMaker": maker,
        "isBestMatch": True,
    }
    engine.next_trade_id += 1
    engine.trades.append(trade)
    return {
        "price": trade["price"],
        "qty": trade["qty"],
        "commission": trade["commission"],
        "commissionAsset": receive,
        "tradeId": trade["id"],
    }


def quantity_for_quote(quote: Decimal, levels: Any, rules: Any) -> Decimal:
    """A MARKET order by quote amount: the quantity the book gives for it, each level floored to the step."""
    step = rules.market_step_size if rules.market_step_size > 0 else rules.step_size
    quantity = Decimal(0)
    for level in levels:
        take = min(level.qty, quote / level.price)
        if step > 0:
            take = (take / step).to_integral_value(rounding=ROUND_DOWN) * step
        quantity += take
        quote -= take * level.price
        if take < level.qty:
            break
    return quantity


def percent_price_by_side(rules: Any, side: str, price: Decimal, book: Any) -> str | None:
    """PERCENT_PRICE_BY_SIDE with the multipliers the exchange information declares (the book's
    mid stands for the average price)."""
    if not book.bids or not book.asks:
        return None
    average = (book.bids[0].price + book.asks[0].price) / 2
    return percent_price_failure(rules, OrderSide(side), price, average)
