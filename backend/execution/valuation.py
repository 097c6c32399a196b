"""Marks and the portfolio's value: the book-top mid or last trade price per symbol, the
independent reference the risk guard compares it with, and the positions valued at the marks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from backend.exchanges.base import AccountSnapshot
from backend.execution.ledger_records import ZERO, PositionView
from backend.market.types import BookTop, MarketSnapshot


@dataclass(frozen=True, slots=True)
class Mark:
    price: Decimal
    time: datetime
    from_book: bool = False  # the book-top mid (else the ticker's last trade price)


@dataclass(frozen=True, slots=True)
class PositionValue:
    symbol: str
    base_asset: str
    quantity: Decimal
    average_cost: Decimal
    mark: Decimal | None
    market_value: Decimal
    unrealised_pnl: Decimal
    realised_pnl: Decimal
    fees_paid: Decimal


@dataclass(frozen=True, slots=True)
class Portfolio:
    exchange: str
    quote_asset: str
    cash: Decimal
    contributed: Decimal
    positions: list[PositionValue]
    equity: Decimal
    gross_exposure: Decimal
    realised_pnl: Decimal
    unrealised_pnl: Decimal
    fees_paid: Decimal
    balances: dict[str, dict[str, Decimal]]
    balances_as_of: datetime | None
    marks_as_of: datetime | None


def marks_from_snapshot(snapshot: MarketSnapshot) -> dict[str, Mark]:
    """Book-top mid where there is a sane book, the last trade price otherwise."""
    marks: dict[str, Mark] = {}
    for symbol, ticker in snapshot.tickers.items():
        if ticker.last_price > 0:
            marks[symbol] = Mark(ticker.last_price, ticker.close_time)
    marks.update(book_marks(snapshot.book_tops))
    return marks


def book_marks(tops: Mapping[str, BookTop]) -> dict[str, Mark]:
    """The marks of the symbols with a sane book (bid > 0, ask >= bid): its mid. These win over
    the ticker's last price in ``marks_from_snapshot``, so a symbol marked here needs no ticker."""
    return {
        symbol: Mark(top.mid, top.time, from_book=True)
        for symbol, top in tops.items()
        if top.bid_price > 0 and top.ask_price >= top.bid_price
    }


def references_from_snapshot(snapshot: MarketSnapshot) -> dict[str, Mark]:
    """The risk guard's reference: the 24h ticker's last trade price, independent of the book mid
    orders are planned at (a symbol priced from the ticker alone has no independent reference)."""
    return {s: Mark(t.last_price, t.close_time) for s, t in snapshot.tickers.items() if t.last_price > 0}


def tradable_holdings(positions: dict[str, PositionView], account: AccountSnapshot) -> dict[str, Decimal]:
    """What the planner may sell per symbol: the ledger's quantity, at most what the account holds free."""
    held: dict[str, Decimal] = {}
    for symbol, pos in positions.items():
        free = account.balances[pos.base_asset].free if pos.base_asset in account.balances else ZERO
        held[symbol] = max(min(pos.quantity, free), ZERO)
    return held


def value_portfolio(
    *,
    exchange: str,
    quote_asset: str,
    positions: dict[str, PositionView],
    cash: Decimal,
    contributed: Decimal,
    marks: dict[str, Mark],
    account: AccountSnapshot | None,
    marks_as_of: datetime | None,
) -> Portfolio:
    """The ledger's positions valued at the marks (the last recorded price, else the average cost)."""
    values: list[PositionValue] = []
    gross = realised = unrealised = fees = ZERO
    for symbol, pos in positions.items():
        mark_obj = marks.get(symbol)
        mark = mark_obj.price if mark_obj is not None else pos.last_price
        price = mark if mark is not None else pos.average_cost
        value = pos.quantity * price
        upnl = pos.quantity * (price - pos.average_cost)
        gross += abs(value)
        realised += pos.realised_pnl
        unrealised += upnl
        fees += pos.fees_paid
        values.append(
            PositionValue(
                symbol=symbol,
                base_asset=pos.base_asset,
                quantity=pos.quantity,
                average_cost=pos.average_cost,
                mark=mark,
                market_value=value,
                unrealised_pnl=upnl,
                realised_pnl=pos.realised_pnl,
                fees_paid=pos.fees_paid,
            )
        )
    balances: dict[str, dict[str, Decimal]] = {}
    if account is not None:
        balances = {a: {"free": b.free, "locked": b.locked} for a, b in sorted(account.balances.items()) if b.total}
    return Portfolio(
        exchange=exchange,
        quote_asset=quote_asset,
        cash=cash,
        contributed=contributed,
        positions=values,
        equity=cash + sum((v.market_value for v in values), ZERO),
        gross_exposure=gross,
        realised_pnl=realised,
        unrealised_pnl=unrealised,
        fees_paid=fees,
        balances=balances,
        balances_as_of=account.taken_at if account else None,
        marks_as_of=marks_as_of,
    )
