"""The paper exchange's resting orders (LIMIT GTC, LIMIT_MAKER) in its tables: matched against the
book and the bars that follow, cancelled, expired, listed.

A resting order locks what it may still spend (a buy: the open quantity × its price in the quote
asset; a sale: the open base quantity) in ``paper_balances.locked``. The market fills it at its own
price, as the maker, at the maker fee (QT_PAPER_MAKER_FEE_BPS), when
- a book newer than its last look has moved onto it (asks at or below a resting buy, bids at or
  above a resting sale): up to the quantity those levels show;
- a bar that closed after the order was placed traded strictly through its price: up to
  QT_PAPER_FILL_VOLUME_SHARE of that bar's volume (a partial fill when the bar was thin).
An order older than QT_PAPER_ORDER_TTL_SECONDS (0: never) expires; cancelling releases the lock.
Everything here is synchronous; the adapter runs it off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import Fill, OrderResult, OrderSide, OrderStatus, OrderType
from backend.exchanges.paper_book import ZERO, bar_through, book_through, floor_step
from backend.market.types import Kline, OrderBook, SymbolRules
from database.models.execution import PaperBalance, PaperOrder, PaperTrade

BPS = Decimal(10_000)
FEE_QUANTUM = Decimal("0.00000001")
OPEN = (OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)


def fill_of(trade: PaperTrade) -> Fill:
    return Fill(
        trade_id=f"P{trade.id}",
        symbol=trade.symbol,
        side=OrderSide(trade.side),
        price=trade.price,
        quantity=trade.quantity,
        fee=trade.fee,
        fee_asset=trade.fee_asset,
        time=trade.time,
        order_id=str(trade.order_id),
    )


def order_result(order: PaperOrder, trades: Sequence[PaperTrade] = ()) -> OrderResult:
    return OrderResult(
        symbol=order.symbol,
        client_order_id=order.client_order_id,
        exchange_order_id=str(order.id),
        status=OrderStatus(order.status),
        side=OrderSide(order.side),
        requested_quantity=order.requested_quantity,
        executed_quantity=order.executed_quantity,
        quote_quantity=order.quote_quantity,
        fills=tuple(fill_of(t) for t in trades),
        time=order.updated_at or order.created_at,
        price=order.price,
        order_type=OrderType(order.order_type),
    )


def adjust(session: Session, asset: str, *, free: Decimal = ZERO, locked: Decimal = ZERO) -> None:
    """Move a balance (the row is locked for the transaction on PostgreSQL)."""
    row = session.scalar(select(PaperBalance).where(PaperBalance.asset == asset).with_for_update())
    if row is None:
        session.add(PaperBalance(asset=asset, free=free, locked=locked))
        session.flush()
        return
    row.free += free
    row.locked += locked


class RestingBook:
    """Resting-order bookkeeping of one paper account (its tables, its config, its clock)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        maker_fee_bps: Callable[[], Decimal],
        volume_share: Callable[[], Decimal],
        ttl_seconds: Callable[[], float],
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._maker_fee_bps = maker_fee_bps
        self._volume_share = volume_share
        self._ttl_seconds = ttl_seconds
        self._clock = clock

    def open_symbols(self) -> dict[str, datetime]:
        """Symbols with open orders, each with the earliest time its bars are matched up to."""
        with self._sessions() as session:
            rows = session.execute(
                select(PaperOrder.symbol, PaperOrder.matched_until, PaperOrder.created_at).where(
                    PaperOrder.status.in_(OPEN)
                )
            ).all()
        out: dict[str, datetime] = {}
        for symbol, matched, created in rows:
            since = matched or created
            out[symbol] = min(out.get(symbol, since), since)
        return out

    def open(self, symbol: str | None) -> list[OrderResult]:
        with self._sessions() as session:
            query = select(PaperOrder).where(PaperOrder.status.in_(OPEN))
            if symbol is not None:
                query = query.where(PaperOrder.symbol == symbol)
            return [order_result(o) for o in session.scalars(query.order_by(PaperOrder.id))]

    # matching ---------------------------------------------------------------------------------
    def match(self, symbol: str, book: OrderBook, bars: Sequence[Kline], rules: SymbolRules | None) -> int:
        """Fill, or expire, the symbol's open orders against what the market did; the number changed."""
        now = self._clock()
        ttl = self._ttl_seconds()
        step = rules.step_size if rules is not None else ZERO
        changed = 0
        with self._sessions.begin() as session:
            orders = session.scalars(
                select(PaperOrder)
                .where(PaperOrder.symbol == symbol, PaperOrder.status.in_(OPEN))
                .order_by(PaperOrder.id)
                .with_for_update()
            ).all()
            for order in orders:
                before = (order.status, order.executed_quantity)
                self._match_order(session, order, book, bars, step, now, rules)
                if ttl > 0 and order.status in OPEN and now >= order.created_at + timedelta(seconds=ttl):
                    self._close(session, order, OrderStatus.EXPIRED, now, rules)
                if (order.status, order.executed_quantity) != before:
                    changed += 1
        return changed

    def _match_order(
        self,
        session: Session,
        order: PaperOrder,
        book: OrderBook,
        bars: Sequence[Kline],
        step: Decimal,
        now: datetime,
        rules: SymbolRules | None,
    ) -> None:
        side = OrderSide(order.side)
        price = order.price
        if price is None:
            return
        since = order.matched_until or order.created_at
        share = self._volume_share()
        seen = since
        for bar in sorted(bars, key=lambda b: b.close_time):
            if bar.close_time <= since or bar.close_time > now:
                continue  # before the order (or its last match), or not closed yet
            self._fill(session, order, floor_step(bar_through(side, price, bar, share), step), now, rules)
            seen = max(seen, bar.close_time)
        if book.time > since:
            # only a book newer than the order's last look: liquidity the order (or its taker part)
            # already met in an older book is not there again
            self._fill(session, order, floor_step(book_through(side, price, book), step), now, rules)
            seen = max(seen, book.time)
        order.matched_until = seen

    def _fill(
        self, session: Session, order: PaperOrder, available: Decimal, now: datetime, rules: SymbolRules | None
    ) -> None:
        remaining = order.requested_quantity - order.executed_quantity
        quantity = min(available, remaining)
        if quantity <= 0 or order.price is None or order.status not in OPEN:
            return
        price = order.price
        buy = order.side == OrderSide.BUY.value
        base, quote = _assets(order.symbol, rules)
        gross = quantity if buy else quantity * price
        fee = (gross * self._maker_fee_bps() / BPS).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)
        fee_asset = base if buy else quote
        session.add(
            PaperTrade(
                order_id=order.id,
                symbol=order.symbol,
                side=order.side,
                price=price,
                quantity=quantity,
                fee=fee,
                fee_asset=fee_asset,
                time=now,
            )
        )
        if buy:
            adjust(session, quote, locked=-(quantity * price))
            adjust(session, base, free=gross - fee)
        else:
            adjust(session, base, locked=-quantity)
            adjust(session, quote, free=gross - fee)
        order.executed_quantity += quantity
        order.quote_quantity += quantity * price
        done = order.executed_quantity >= order.requested_quantity
        order.status = (OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED).value
        order.updated_at = now

    def _close(
        self, session: Session, order: PaperOrder, status: OrderStatus, now: datetime, rules: SymbolRules | None
    ) -> None:
        """Cancel or expire an open order: what it had locked for the unfilled rest comes back."""
        rest = order.requested_quantity - order.executed_quantity
        base, quote = _assets(order.symbol, rules)
        if rest > 0:
            if order.side == OrderSide.BUY.value:
                held = rest * (order.price or ZERO)
                adjust(session, quote, free=held, locked=-held)
            else:
                adjust(session, base, free=rest, locked=-rest)
        order.status = status.value
        order.updated_at = now

    def cancel(self, symbol: str, client_order_id: str, rules: SymbolRules | None) -> OrderResult | None:
        now = self._clock()
        with self._sessions.begin() as session:
            order = session.scalar(
                select(PaperOrder)
                .where(PaperOrder.client_order_id == client_order_id, PaperOrder.symbol == symbol)
                .with_for_update()
            )
            if order is None:
                return None
            if order.status in OPEN:
                self._close(session, order, OrderStatus.CANCELED, now, rules)
            trades = session.scalars(
                select(PaperTrade).where(PaperTrade.order_id == order.id).order_by(PaperTrade.id)
            ).all()
            return order_result(order, trades)


def _assets(symbol: str, rules: SymbolRules | None) -> tuple[str, str]:
    if rules is None:
        raise ValueError(f"no exchange rules for {symbol}: cannot move its balances")
    return rules.base_asset, rules.quote_asset


__all__ = ["OPEN", "RestingBook", "adjust", "fill_of", "order_result"]
