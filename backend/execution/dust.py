"""Dust: a holding too small for the exchange to accept as an order (it can never be sold alone).

Judged against the exchange's own minimums (lot size after flooring to the step, minimum notional
at the mark), not against QT_EXECUTION_MIN_NOTIONAL: a holding above the exchange's minimum but
below ours is a small position, still tradable.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from backend.exchanges.base import OrderType
from backend.exchanges.filters import floor_to_step, quantity_bounds, quantity_step
from backend.market.types import SymbolRules


def dust_reason(rules: SymbolRules, quantity: Decimal, price: Decimal | None) -> str | None:
    """Why this holding is dust, or None when it is not (or holds nothing)."""
    if quantity <= 0:
        return None
    step = quantity_step(rules, OrderType.MARKET)
    low, _high = quantity_bounds(rules, OrderType.MARKET)
    sellable = floor_to_step(quantity, step)
    if sellable <= 0:
        return f"quantity {format(quantity, 'f')} is below the step size {format(step, 'f')}"
    if low > 0 and sellable < low:
        return f"quantity {format(sellable, 'f')} is below the exchange minimum {format(low, 'f')}"
    if price is not None and price > 0 and rules.min_notional > 0 and rules.min_notional_applies_to_market:
        value = sellable * price
        if value < rules.min_notional:
            return (
                f"value {format(value.quantize(Decimal('0.01')), 'f')} is below the exchange minimum"
                f" notional {format(rules.min_notional, 'f')}"
            )
    return None


def dust_holdings(
    quantities: Mapping[str, Decimal], marks: Mapping[str, Decimal], rules: Mapping[str, SymbolRules]
) -> list[dict[str, Any]]:
    """Every holding that is dust, as stored in a cycle's details (decimal strings)."""
    out: list[dict[str, Any]] = []
    for symbol in sorted(quantities):
        symbol_rules = rules.get(symbol)
        if symbol_rules is None:
            continue
        quantity = quantities[symbol]
        price = marks.get(symbol)
        reason = dust_reason(symbol_rules, quantity, price)
        if reason is not None:
            value = quantity * price if price is not None else None
            out.append(
                {
                    "symbol": symbol,
                    "quantity": format(quantity, "f"),
                    "value": None if value is None else format(value, "f"),
                    "reason": reason,
                }
            )
    return out
