"""The paper exchange's matching arithmetic (pure, Decimal): walking the book for taker orders, and
when the market trades through a resting limit order (the book crossing it, or a bar past it)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from backend.exchanges.base import OrderRequest, OrderSide, OrderType
from backend.market.types import BookLevel, Kline, OrderBook

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Match:
    price: Decimal
    quantity: Decimal


def floor_step(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def walk_book(levels: tuple[BookLevel, ...], quantity: Decimal, *, limit_price: Decimal, buy: bool) -> list[Match]:
    """Take liquidity best-first until `quantity` is done or the next level is past `limit_price`."""
    matches: list[Match] = []
    remaining = quantity
    for level in levels:
        if remaining <= 0:
            break
        if (buy and level.price > limit_price) or (not buy and level.price < limit_price):
            break
        take = min(level.qty, remaining)
        if take > 0:
            matches.append(Match(level.price, take))
            remaining -= take
    return matches


def covered(request: OrderRequest, book: OrderBook, limit: int) -> bool:
    """Whether ``book``, asked for ``limit`` levels a side, shows every level ``request`` can take.

    True unless its side holds exactly ``limit`` levels (fewer: that is the whole book; more: the
    source gave all it has, as a recorded book does) and they do not cover the order. When they
    cover it, ``walk_book`` fills it and ``walk_book_quote`` spends it within them (strictly: an
    amount the levels pay for exactly would look at the next one), so a deeper book of the same
    moment, whose first levels are these, fills the order the same. An order that takes nothing
    (LIMIT_MAKER) needs only the top."""
    buy = request.side is OrderSide.BUY
    levels = book.asks if buy else book.bids
    if len(levels) != limit or request.order_type not in (OrderType.MARKET, OrderType.LIMIT):
        return True
    if buy and request.quote_quantity is not None:
        return sum((level.price * level.qty for level in levels), ZERO) > request.quote_quantity
    return sum((level.qty for level in levels), ZERO) >= request.quantity


def walk_book_quote(
    levels: tuple[BookLevel, ...], quote: Decimal, *, limit_price: Decimal, step: Decimal
) -> tuple[list[Match], bool]:
    """Spend at most `quote` best-first (a buy by quote amount), quantities floored to `step`;
    returns the matches and whether the amount was spent (False: the book or the cap ran out)."""
    matches: list[Match] = []
    remaining = quote
    for level in levels:
        if level.price > limit_price:
            return matches, False
        take = floor_step(min(level.qty, remaining / level.price), step)
        if take > 0:
            matches.append(Match(level.price, take))
            remaining -= take * level.price
        if take < level.qty:  # this level could pay for more than the amount left: done
            return matches, True
    return matches, False


def would_take(side: OrderSide, price: Decimal, book: OrderBook) -> bool:
    """True when a limit order at `price` would match the book at once (a LIMIT_MAKER is refused)."""
    if side is OrderSide.BUY:
        return bool(book.asks) and book.asks[0].price <= price
    return bool(book.bids) and book.bids[0].price >= price


def book_through(side: OrderSide, price: Decimal, book: OrderBook) -> Decimal:
    """The quantity the book now offers at or through a resting order's price (the market moved
    onto it): asks at or below a resting buy, bids at or above a resting sale."""
    if side is OrderSide.BUY:
        return sum((lvl.qty for lvl in book.asks if lvl.price <= price), ZERO)
    return sum((lvl.qty for lvl in book.bids if lvl.price >= price), ZERO)


def bar_through(side: OrderSide, price: Decimal, bar: Kline, share: Decimal) -> Decimal:
    """The quantity a bar fills of a resting order: `share` of the bar's volume when the bar traded
    strictly through the price (a low below a buy, a high above a sale; touching is not enough, the
    queue ahead at that price may have taken it all), else nothing."""
    through = bar.low < price if side is OrderSide.BUY else bar.high > price
    return bar.volume * share if through else ZERO


__all__ = ["Match", "bar_through", "book_through", "floor_step", "walk_book", "walk_book_quote", "would_take"]
