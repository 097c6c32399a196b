"""The ledger's orders: saved before they are sent, claimed for sending (fencing), resolved after.

Orders are written before they are sent and updated after, so an order whose answer was lost is
still known (status UNKNOWN) and is looked up by its client order id before anything is
resubmitted. Every state change that races another writer (a new leader, a late answer) is one
conditional UPDATE whose row count says who won.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, literal, or_, select, update

from backend.amounts import exact_sum
from backend.exchanges.base import OrderResult, OrderSide, OrderStatus
from backend.execution.ledger_records import (
    FAILED,
    OPEN_STATES,
    PENDING,
    SENDING,
    WORKING,
    ZERO,
    LedgerBase,
    OpenOrder,
)
from backend.risk.day_parts import aware, day_totals, last_fill, records_of, settle
from backend.risk.models import TradeRecord
from database.models.execution import FillRecord, Order
from database.session import connection_scope

_ORD = cast(Table, Order.__table__)
_INS_ORDER = insert(_ORD)
_OPEN_COLUMNS = (
    "client_order_id",
    "symbol",
    "side",
    "status",
    "requested_quantity",
    "created_at",
    "unknown_since",
    "next_lookup_at",
    "lookups",
    "leader_epoch",
    "quote_order_qty",
    "order_type",
    "parent_client_order_id",
    "executed_quantity",
    "reference_price",
)
# Prepared statements of the cycle (built once; executed with parameters): a statement built per
# call costs more in SQLAlchemy's cache-key and compile-cache lookup than the read itself.
_SEL_OPEN_BASE = select(*(_ORD.c[name] for name in _OPEN_COLUMNS)).where(_ORD.c.exchange == bindparam("x_exchange"))
# IN over plain parameters, not an expanding list: that one is rendered anew on every execution
_SEL_OPEN = _SEL_OPEN_BASE.where(_ORD.c.status.in_([literal(s) for s in OPEN_STATES])).order_by(_ORD.c.id)
_SEL_WORKING = _SEL_OPEN_BASE.where(_ORD.c.status == WORKING).order_by(_ORD.c.id)
_SEL_CHAIN = _SEL_OPEN_BASE.where(
    or_(_ORD.c.client_order_id == bindparam("x_root"), _ORD.c.parent_client_order_id == bindparam("x_root"))
).order_by(_ORD.c.id)
_CLAIM_VALUES = {
    "status": SENDING,
    "unknown_since": bindparam("v_now", type_=_ORD.c.unknown_since.type),
    "next_lookup_at": bindparam("v_now", type_=_ORD.c.next_lookup_at.type),
    "updated_at": bindparam("v_now", type_=_ORD.c.updated_at.type),
    "quote_order_qty": bindparam("v_quote_order_qty", type_=_ORD.c.quote_order_qty.type),
}
_CLAIM_WHERE = (_ORD.c.client_order_id == bindparam("x_coid"), _ORD.c.status == PENDING)
_CLAIM = update(_ORD).where(*_CLAIM_WHERE, _ORD.c.leader_epoch == bindparam("x_epoch")).values(_CLAIM_VALUES)
_CLAIM_NO_EPOCH = update(_ORD).where(*_CLAIM_WHERE, _ORD.c.leader_epoch.is_(None)).values(_CLAIM_VALUES)


class LedgerOrders(LedgerBase):
    def save_orders(self, run_id: int | None, orders: Sequence[dict[str, Any]]) -> None:
        """Persist orders before they are sent (status PENDING), in one transaction."""
        if not orders:
            return
        now = self._clock()
        rows = [
            {
                "run_id": run_id,
                "exchange": self.exchange,
                "client_order_id": o["client_order_id"],
                "exchange_order_id": None,
                "symbol": o["symbol"],
                "side": o["side"],
                "order_type": o.get("order_type", "MARKET"),
                "requested_quantity": o["quantity"],
                "executed_quantity": ZERO,
                "quote_quantity": ZERO,
                "reference_price": o.get("price"),
                "status": o.get("status", PENDING),
                "error_code": None,
                "error_message": None,
                "note": o.get("note"),
                "created_at": now,
                "updated_at": now,
                "leader_epoch": o.get("leader_epoch"),
                "unknown_since": None,
                "next_lookup_at": None,
                "lookups": 0,
                "quote_order_qty": o.get("quote_order_qty"),
                "parent_client_order_id": o.get("parent_client_order_id"),
            }
            for o in orders
        ]
        with connection_scope(self._sessions, write=True) as conn:
            conn.execute(_INS_ORDER, rows)

    def update_order(
        self,
        client_order_id: str,
        *,
        status: str,
        result: OrderResult | None = None,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> None:
        with self._sessions.begin() as session:
            order = session.scalar(select(Order).where(Order.client_order_id == client_order_id))
            if order is None:
                return
            self._update(order, status=status, result=result, error_code=error_code, error_message=error_message)

    def _update(
        self,
        order: Order,
        *,
        status: str,
        result: OrderResult | None = None,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> None:
        order.status = status
        if result is not None:
            order.exchange_order_id = result.exchange_order_id
            order.executed_quantity = result.executed_quantity
            order.quote_quantity = result.quote_quantity
        if error_code is not None:
            order.error_code = error_code
        if error_message is not None:
            order.error_message = error_message[:2000]
        order.updated_at = self._clock()

    def resize_order(self, client_order_id: str, quantity: Decimal, note: str | None) -> None:
        """A PENDING order cut before sending (cash after sells): record what is actually sent."""
        with self._sessions.begin() as session:
            order = session.scalar(select(Order).where(Order.client_order_id == client_order_id))
            if order is not None and order.status == PENDING:
                order.requested_quantity = quantity
                order.note = note
                order.updated_at = self._clock()

    def executions_since(self, since: datetime) -> list[TradeRecord]:
        """What each order with a fill on or after the UTC day of ``since`` executed, one record per
        order and UTC day of its fills (the guard's daily figures: each fill on its own day, as
        ``realised_pnl_between`` counts it), the order's first day under its client order id."""
        start = datetime.combine(aware(since).astimezone(UTC).date(), time.min, tzinfo=UTC)
        recent = (
            select(FillRecord.client_order_id)
            .where(FillRecord.exchange == self.exchange, FillRecord.time >= start)
            .distinct()
            .scalar_subquery()
        )
        with self._sessions() as session:
            orders = session.execute(
                select(
                    Order.client_order_id, Order.symbol, Order.side, Order.executed_quantity, Order.quote_quantity
                ).where(Order.exchange == self.exchange, Order.client_order_id.in_(recent))
            ).all()
            fill_rows = session.execute(
                select(
                    FillRecord.client_order_id,
                    FillRecord.time,
                    FillRecord.quantity,
                    FillRecord.price,
                    FillRecord.realised_pnl,
                )
                .where(FillRecord.exchange == self.exchange, FillRecord.client_order_id.in_(recent))
                .order_by(FillRecord.id)
            ).all()
        fills: dict[str, list[tuple[datetime, Decimal, Decimal, Decimal]]] = {}
        for coid, when, qty, price, realised in fill_rows:
            fills.setdefault(coid, []).append((aware(when), qty, qty * price, realised))
        records: list[TradeRecord] = []
        for coid, symbol, side, qty, quote in orders:
            own = fills.get(coid, [])
            days = day_totals((when, q, value) for when, q, value, _pnl in own)
            if qty <= 0 or not days:
                continue
            settle(days, qty, quote, last_fill(days))
            by_day: dict[date, Decimal] = {}
            for when, _q, _value, realised in own:
                day = when.astimezone(UTC).date()
                by_day[day] = exact_sum((by_day.get(day, ZERO), realised))
            records.extend(records_of(coid, symbol, OrderSide(side), days, by_day))
        return records

    def order_realised_pnl(self, client_order_id: str) -> Decimal:
        """The realised PnL of every fill of one order so far (an order filled over several looks)."""
        with self._sessions() as session:
            values = session.scalars(
                select(FillRecord.realised_pnl).where(
                    FillRecord.exchange == self.exchange, FillRecord.client_order_id == client_order_id
                )
            )
            return exact_sum(values)

    def realised_pnl_between(self, start: datetime, end: datetime) -> Decimal:
        """Realised PnL of the fills in [start, end) (the daily-loss figure the guard must agree with)."""
        with self._sessions() as session:
            values = session.scalars(  # summed here: SQLite's SUM would go through a float
                select(FillRecord.realised_pnl).where(
                    FillRecord.exchange == self.exchange, FillRecord.time >= start, FillRecord.time < end
                )
            )
            return exact_sum(values)

    def open_orders(self) -> list[OpenOrder]:
        """Orders whose outcome is not final: persisted-unsent, unknown, or still working."""
        return self._orders(_SEL_OPEN)

    def working_orders(self) -> list[OpenOrder]:
        """Sliced orders whose slices are still being sent (status WORKING)."""
        return self._orders(_SEL_WORKING)

    def order_chain(self, root: str) -> list[OpenOrder]:
        """A planned order and every child working it (re-priced maker orders, the taker finish,
        slices), oldest first, whatever their state."""
        return self._orders(_SEL_CHAIN, x_root=root)

    def _orders(self, query: Any, **params: Any) -> list[OpenOrder]:
        # a Core read, not the ORM: every cycle starts with the open orders
        with connection_scope(self._sessions) as conn:
            rows = conn.execute(query, {"x_exchange": self.exchange, **params}).all()
        return [
            OpenOrder(
                o.client_order_id,
                o.symbol,
                OrderSide(o.side),
                o.status,
                o.requested_quantity,
                created_at=o.created_at,
                unknown_since=o.unknown_since,
                next_lookup_at=o.next_lookup_at,
                lookups=o.lookups or 0,
                leader_epoch=o.leader_epoch,
                quote_order_qty=o.quote_order_qty,
                order_type=o.order_type,
                parent_client_order_id=o.parent_client_order_id,
                executed_quantity=o.executed_quantity,
                reference_price=o.reference_price,
            )
            for o in rows
        ]

    # unknown outcomes and fencing ----------------------------------------------------------------
    def claim_for_sending(self, client_order_id: str, epoch: int | None, quote_quantity: Decimal | None = None) -> bool:
        """``PENDING → SENDING`` in one statement, only for the epoch that planned it and only if no
        one touched the row since (a new leader that failed it wins): True when this caller may send."""
        params: dict[str, Any] = {
            "x_coid": client_order_id,
            "v_now": self._clock(),
            "v_quote_order_qty": quote_quantity,
        }
        if epoch is not None:
            params["x_epoch"] = epoch
        with connection_scope(self._sessions, write=True) as conn:
            result = conn.execute(_CLAIM if epoch is not None else _CLAIM_NO_EPOCH, params)
            return bool(result.rowcount == 1)

    def mark_unknown(self, client_order_id: str, message: str) -> None:
        """The answer was lost: UNKNOWN, keeping the time the outcome first became unknown."""
        now = self._clock()
        with connection_scope(self._sessions, write=True) as conn:
            conn.execute(
                update(_ORD)
                .where(_ORD.c.client_order_id == client_order_id)
                .values(
                    status=OrderStatus.UNKNOWN.value,
                    unknown_since=func.coalesce(_ORD.c.unknown_since, now),
                    next_lookup_at=now,
                    error_message=message[:2000],
                    updated_at=now,
                )
            )

    def schedule_lookup(self, client_order_id: str, at: datetime) -> None:
        with connection_scope(self._sessions, write=True) as conn:
            conn.execute(
                update(_ORD)
                .where(_ORD.c.client_order_id == client_order_id)
                .values(next_lookup_at=at, lookups=_ORD.c.lookups + 1)
            )

    def fail_if_status(self, client_order_id: str, status: str, message: str) -> bool:
        """Mark FAILED only if the order is still in ``status`` (a concurrent claim or answer wins)."""
        now = self._clock()
        with connection_scope(self._sessions, write=True) as conn:
            result = conn.execute(
                update(_ORD)
                .where(_ORD.c.client_order_id == client_order_id, _ORD.c.status == status)
                .values(status=FAILED, error_message=message[:2000], updated_at=now, next_lookup_at=None)
            )
            return bool(result.rowcount == 1)

    def client_order_ids(self) -> list[str]:
        with self._sessions() as session:
            return list(session.scalars(select(Order.client_order_id).order_by(Order.id)))
