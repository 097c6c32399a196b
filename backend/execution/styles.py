"""Order styles (QT_EXECUTION_ORDER_STYLE): how a planned order is sent.

- ``market``: a MARKET order (a buy by quote amount when the planner gives one).
- ``limit_ioc``: a LIMIT order, time in force IOC, at the arrival mark ± QT_EXECUTION_MAX_SLIPPAGE_BPS,
  rounded to the tick size *toward the mark* (a buy's limit floored, a sale's raised), so it never
  fills worse than the bound; whatever the book does not fill at once expires.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from backend.exchanges.base import OrderSide, OrderType

BPS = Decimal(10_000)
MARKET = "market"
LIMIT_IOC = "limit_ioc"


def bound_price(side: OrderSide, mark: Decimal, bps: Decimal, tick: Decimal) -> Decimal:
    """The worst price the bound allows, on the tick grid, never past the bound."""
    raw = mark * (1 + bps / BPS) if side is OrderSide.BUY else mark * (1 - bps / BPS)
    if tick <= 0:
        return raw
    rounding = ROUND_FLOOR if side is OrderSide.BUY else ROUND_CEILING
    return (raw / tick).to_integral_value(rounding=rounding) * tick


def style_fields(
    style: str, side: OrderSide, mark: Decimal, bps: Decimal, tick: Decimal, quote_quantity: Decimal | None
) -> dict[str, object]:
    """The OrderRequest fields the style sets (order type, price, time in force, quote amount)."""
    if style == LIMIT_IOC:
        return {
            "order_type": OrderType.LIMIT,
            "price": bound_price(side, mark, bps, tick),
            "time_in_force": "IOC",
            "quote_quantity": None,  # a LIMIT order is sized in the base asset
        }
    return {"order_type": OrderType.MARKET, "quote_quantity": quote_quantity}


__all__ = ["LIMIT_IOC", "MARKET", "bound_price", "style_fields"]
