"""Exchange-rule arithmetic in Decimal: floor quantities to steps, prices to ticks, check filters."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from backend.exchanges.base import OrderSide, OrderType
from backend.market.types import SymbolRules

ZERO = Decimal(0)


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` not above `value` (a zero step leaves the value as is)."""
    if step <= 0:
        return value
    steps = (value / step).to_integral_value(rounding=ROUND_DOWN)
    return (steps * step).normalize() if steps else ZERO


def quantity_step(rules: SymbolRules, order_type: OrderType) -> Decimal:
    """MARKET_LOT_SIZE's step for market orders when the exchange sets one, LOT_SIZE's otherwise."""
    if order_type is OrderType.MARKET and rules.market_step_size > 0:
        return rules.market_step_size
    return rules.step_size


def quantity_bounds(rules: SymbolRules, order_type: OrderType) -> tuple[Decimal, Decimal]:
    """(min, max) quantity for this order type; 0 means not enforced."""
    lo, hi = rules.min_qty, rules.max_qty
    if order_type is OrderType.MARKET:
        if rules.market_min_qty > 0:
            lo = max(lo, rules.market_min_qty)
        if rules.market_max_qty > 0:
            hi = rules.market_max_qty if hi <= 0 else min(hi, rules.market_max_qty)
    return lo, hi


def quantize_quantity(rules: SymbolRules, quantity: Decimal, order_type: OrderType = OrderType.MARKET) -> Decimal:
    """Floor to the step and cap at the maximum quantity (never rounds up)."""
    step = quantity_step(rules, order_type)
    _lo, hi = quantity_bounds(rules, order_type)
    if hi > 0 and quantity > hi:
        quantity = hi
    return floor_to_step(quantity, step)


def quantize_price(rules: SymbolRules, price: Decimal) -> Decimal:
    return floor_to_step(price, rules.tick_size)


def filter_failure(
    rules: SymbolRules,
    quantity: Decimal,
    price: Decimal,
    order_type: OrderType = OrderType.MARKET,
) -> str | None:
    """The Binance filter this order breaks ("LOT_SIZE", "NOTIONAL", ...), or None when it passes.

    `price` is the limit price for limit orders and the expected average price for market orders
    (Binance checks market notional against the average price of the last minutes).
    """
    market = order_type is OrderType.MARKET
    lot = "MARKET_LOT_SIZE" if market and (rules.market_step_size > 0 or rules.market_min_qty > 0) else "LOT_SIZE"
    if quantity <= 0:
        return lot
    lo, hi = quantity_bounds(rules, order_type)
    if quantity < lo or (hi > 0 and quantity > hi):
        return lot
    step = quantity_step(rules, order_type)
    if step > 0 and quantity % step != 0:
        return lot
    if not market:
        if price <= 0 or (rules.min_price > 0 and price < rules.min_price):
            return "PRICE_FILTER"
        if rules.max_price > 0 and price > rules.max_price:
            return "PRICE_FILTER"
        if rules.tick_size > 0 and price % rules.tick_size != 0:
            return "PRICE_FILTER"
    notional = quantity * price
    if (
        rules.min_notional > 0
        and (not market or rules.min_notional_applies_to_market)
        and notional < rules.min_notional
    ):
        return "NOTIONAL"
    if (
        rules.max_notional > 0
        and (not market or rules.max_notional_applies_to_market)
        and notional > rules.max_notional
    ):
        return "NOTIONAL"
    return None


def percent_price_failure(rules: SymbolRules, side: OrderSide, price: Decimal, average: Decimal) -> str | None:
    """ "PERCENT_PRICE_BY_SIDE" when a limit price lies outside the side's band around the average
    price (Binance: the average over avgPriceMins; a caller without it passes the book's mid)."""
    if average <= 0:
        return None
    if side is OrderSide.BUY:
        up, down = rules.bid_multiplier_up, rules.bid_multiplier_down
    else:
        up, down = rules.ask_multiplier_up, rules.ask_multiplier_down
    if (up > 0 and price > average * up) or (down > 0 and price < average * down):
        return "PERCENT_PRICE_BY_SIDE"
    return None
