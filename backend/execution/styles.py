"""Order styles (QT_EXECUTION_ORDER_STYLE): how a planned order is sent.

- ``market``: a MARKET order (a buy by quote amount when the planner gives one).
- ``limit_ioc``: a LIMIT order, time in force IOC, at the arrival mark ± QT_EXECUTION_MAX_SLIPPAGE_BPS,
  rounded to the tick size *toward the mark* (a buy's limit floored, a sale's raised), so it never
  fills worse than the bound; whatever the book does not fill at once expires.
- ``maker_first``: a LIMIT_MAKER at the best bid (a buy) or the best ask (a sale), so it pays the
  maker fee and no spread. It rests across cycles; left behind by the book it is re-priced (cancel,
  new LIMIT_MAKER at the new best) up to QT_EXECUTION_MAKER_REPRICES times; after
  QT_EXECUTION_MAKER_TIMEOUT_SECONDS (or when the exchange refuses it because the book crossed) the
  unfilled rest is finished with ``limit_ioc`` (backend/execution/resting.py).

Every exchange order of one planned order has its own client order id derived from the planned
one (`child_order_id`): ``-m1``, ``-m2`` for re-priced maker orders, ``-t`` for the taker finish,
``-s2`` ... for slices.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from backend.exchanges.base import OrderSide, OrderType

BPS = Decimal(10_000)
MARKET = "market"
LIMIT_IOC = "limit_ioc"
MAKER_FIRST = "maker_first"
CLIENT_ID_MAX = 36  # Binance: ^[.A-Z:/a-z0-9_-]{1,36}$


def child_order_id(parent: str, suffix: str) -> str:
    """The client order id of an exchange order that works part of `parent` (deterministic: the
    same parent and suffix give the same id after a restart); hashed when too long for Binance."""
    raw = f"{parent}-{suffix}"
    if len(raw) <= CLIENT_ID_MAX:
        return raw
    digest = hashlib.sha256(parent.encode()).hexdigest()
    return f"qt-{digest[: CLIENT_ID_MAX - 4 - len(suffix)]}-{suffix}"


def maker_price(side: OrderSide, bid: Decimal, ask: Decimal, tick: Decimal) -> Decimal:
    """A maker order's price: the best bid for a buy, the best ask for a sale (on the tick grid,
    rounded away from the other side so it never crosses)."""
    raw = bid if side is OrderSide.BUY else ask
    if tick <= 0:
        return raw
    rounding = ROUND_FLOOR if side is OrderSide.BUY else ROUND_CEILING
    return (raw / tick).to_integral_value(rounding=rounding) * tick


def bound_price(side: OrderSide, mark: Decimal, bps: Decimal, tick: Decimal) -> Decimal:
    """The worst price the bound allows, on the tick grid, never past the bound."""
    raw = mark * (1 + bps / BPS) if side is OrderSide.BUY else mark * (1 - bps / BPS)
    if tick <= 0:
        return raw
    rounding = ROUND_FLOOR if side is OrderSide.BUY else ROUND_CEILING
    return (raw / tick).to_integral_value(rounding=rounding) * tick


def style_fields(
    style: str,
    side: OrderSide,
    mark: Decimal,
    bps: Decimal,
    tick: Decimal,
    quote_quantity: Decimal | None,
    top: tuple[Decimal, Decimal] | None = None,
) -> dict[str, object]:
    """The OrderRequest fields the style sets (order type, price, time in force, quote amount);
    `top` is the (best bid, best ask) a maker order joins (maker_first without one goes limit_ioc)."""
    if style == MAKER_FIRST and top is not None and top[0] > 0 and top[1] >= top[0]:
        return {
            "order_type": OrderType.LIMIT_MAKER,
            "price": maker_price(side, top[0], top[1], tick),
            "time_in_force": None,
            "quote_quantity": None,
        }
    if style in (LIMIT_IOC, MAKER_FIRST):
        return {
            "order_type": OrderType.LIMIT,
            "price": bound_price(side, mark, bps, tick),
            "time_in_force": "IOC",
            "quote_quantity": None,  # a LIMIT order is sized in the base asset
        }
    return {"order_type": OrderType.MARKET, "quote_quantity": quote_quantity}


__all__ = ["LIMIT_IOC", "MAKER_FIRST", "MARKET", "bound_price", "child_order_id", "maker_price", "style_fields"]
