"""The ledger: orders, fills, average-cost positions, cash and run records, in the database.

One class, ``Ledger``, assembled from its parts: the fill path (``ledger_fills``: every fill once,
in the transaction that moves the position and the cash), the orders (``ledger_orders``: saved
before sending, fenced claims, unknown outcomes) and, here, cash, positions, history and runs.
The records and order states it returns live in ``ledger_records``; they are re-exported here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from backend.execution.ledger_fills import LedgerFills, base_asset_of
from backend.execution.ledger_orders import LedgerOrders
from backend.execution.ledger_records import (
    FAILED,
    OPEN_STATES,
    PENDING,
    REFUSED,
    SENDING,
    SKIPPED,
    ZERO,
    Applied,
    OpenOrder,
    PositionView,
    RecordedFill,
)
from database.models.execution import ExecutionRun, FillRecord, LedgerBalance, Order, Position
from database.session import connection_scope

_POS = cast(Table, Position.__table__)
_BAL = cast(Table, LedgerBalance.__table__)
_RUN = cast(Table, ExecutionRun.__table__)
_SEL_AMOUNTS = select(_BAL.c.amount, _BAL.c.contributed).where(
    _BAL.c.exchange == bindparam("x_exchange"), _BAL.c.asset == bindparam("x_asset")
)
# the columns in PositionView's order
_SEL_ALL_POSITIONS = (
    select(
        _POS.c.symbol,
        _POS.c.base_asset,
        _POS.c.quantity,
        _POS.c.average_cost,
        _POS.c.realised_pnl,
        _POS.c.fees_paid,
        _POS.c.last_price,
    )
    .where(_POS.c.exchange == bindparam("x_exchange"))
    .order_by(_POS.c.symbol)
)
_INS_RUN = insert(_RUN).returning(_RUN.c.id)
_UPD_RUN: dict[tuple[str, ...], Any] = {}  # finish_run's UPDATE per set of columns (built once each)
_UPD_MARK = (
    update(_POS)
    .where(_POS.c.exchange == bindparam("x_exchange"), _POS.c.symbol == bindparam("x_symbol"))
    .values(last_price=bindparam("v_last_price", type_=_POS.c.last_price.type))
)


class Ledger(LedgerFills, LedgerOrders):
    # cash ---------------------------------------------------------------------------------------
    def _balance(self, session: Session, *, lock: bool = False) -> LedgerBalance | None:
        """The cash row; ``lock``: FOR UPDATE, taken first by every read-then-write (see ledger_fills)."""
        query = select(LedgerBalance).where(LedgerBalance.exchange == self.exchange, LedgerBalance.asset == self.quote)
        return session.scalar(query.with_for_update() if lock else query)

    def is_seeded(self) -> bool:
        with self._sessions() as session:
            return self._balance(session) is not None

    def seed(self, amount: Decimal) -> None:
        """Start the ledger's cash at what the exchange holds (first start only)."""
        with self._sessions.begin() as session:
            if self._balance(session, lock=True) is None:
                session.add(
                    LedgerBalance(
                        exchange=self.exchange,
                        asset=self.quote,
                        amount=amount,
                        contributed=amount,
                        updated_at=self._clock(),
                    )
                )

    def _amounts(self) -> tuple[Decimal, Decimal]:
        with connection_scope(self._sessions) as conn:
            row = conn.execute(_SEL_AMOUNTS, {"x_exchange": self.exchange, "x_asset": self.quote}).first()
        return (row.amount, row.contributed) if row is not None else (ZERO, ZERO)

    def cash(self) -> Decimal:
        return self._amounts()[0]

    def contributed(self) -> Decimal:
        return self._amounts()[1]

    def cash_and_contributed(self) -> tuple[Decimal, Decimal]:
        """Both figures in one read (the portfolio view needs both)."""
        return self._amounts()

    def adjust_cash(self, amount: Decimal) -> Decimal:
        """Set cash to the exchange's figure (reconciliation); the difference counts as contributed."""
        with self._sessions.begin() as session:
            row = self._balance(session, lock=True)
            if row is None:
                session.add(
                    LedgerBalance(
                        exchange=self.exchange,
                        asset=self.quote,
                        amount=amount,
                        contributed=amount,
                        updated_at=self._clock(),
                    )
                )
                return amount
            diff = amount - row.amount
            row.amount = amount
            row.contributed += diff
            row.updated_at = self._clock()
            return diff

    def adjust_position(self, symbol: str, base_asset: str, quantity: Decimal, price: Decimal) -> Decimal:
        """Set a position's quantity to the exchange's (reconciliation), valuing the difference at `price`.

        The difference is booked as contributed value (not PnL): it came from outside the ledger.
        """
        with self._sessions.begin() as session:
            bal = self._balance(session, lock=True)  # the cash row first, then the position (no deadlock)
            pos = self._position(session, symbol, base_asset, lock=True)
            diff = quantity - pos.quantity
            if diff == 0:
                return diff
            old_average = pos.average_cost
            if quantity <= 0:
                pos.average_cost = ZERO
            elif diff > 0:
                pos.average_cost = (pos.quantity * pos.average_cost + diff * price) / quantity
            pos.quantity = quantity
            pos.updated_at = self._clock()
            if bal is not None:
                # an addition comes in at `price`, a removal leaves at its average cost: either way
                # cash + Σ quantity × mark == contributed + realised + unrealised still holds
                bal.contributed += diff * (price if diff > 0 else old_average)
            return diff

    # positions ----------------------------------------------------------------------------------
    def _position(self, session: Session, symbol: str, base_asset: str, *, lock: bool = False) -> Position:
        query = select(Position).where(Position.exchange == self.exchange, Position.symbol == symbol)
        pos = session.scalar(query.with_for_update() if lock else query)
        if pos is None:
            pos = Position(
                exchange=self.exchange,
                symbol=symbol,
                base_asset=base_asset,
                quantity=ZERO,
                average_cost=ZERO,
                realised_pnl=ZERO,
                fees_paid=ZERO,
                last_price=None,
                updated_at=self._clock(),
            )
            session.add(pos)
        return pos

    def positions(self) -> dict[str, PositionView]:
        # a Core read, not the ORM: every cycle reads the positions
        with connection_scope(self._sessions) as conn:
            rows = conn.execute(_SEL_ALL_POSITIONS, {"x_exchange": self.exchange}).all()
        return {row.symbol: PositionView(*row) for row in rows}

    def set_marks(self, marks: dict[str, Decimal]) -> None:
        """Write these last prices to the positions of these symbols (one without a position is left
        out). The cycle passes only the marks that moved since the positions it has just read."""
        if not marks:
            return
        rows = [{"x_exchange": self.exchange, "x_symbol": s, "v_last_price": p} for s, p in marks.items()]
        with connection_scope(self._sessions, write=True) as conn:
            conn.execute(_UPD_MARK, rows)

    def history(
        self,
        *,
        symbol: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Order], int, list[FillRecord], int]:
        """A page of orders and a page of fills, newest first, with their totals."""
        with self._sessions() as session:
            orders = select(Order).where(Order.exchange == self.exchange)
            fills = select(FillRecord).where(FillRecord.exchange == self.exchange)
            if symbol:
                orders = orders.where(Order.symbol == symbol)
                fills = fills.where(FillRecord.symbol == symbol)
            if since is not None:
                orders = orders.where(Order.created_at >= since)
                fills = fills.where(FillRecord.time >= since)
            if until is not None:
                orders = orders.where(Order.created_at < until)
                fills = fills.where(FillRecord.time < until)
            n_orders = int(session.scalar(select(func.count()).select_from(orders.subquery())) or 0)
            n_fills = int(session.scalar(select(func.count()).select_from(fills.subquery())) or 0)
            order_rows = list(
                session.scalars(orders.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit).offset(offset))
            )
            fill_rows = list(
                session.scalars(
                    fills.order_by(FillRecord.time.desc(), FillRecord.id.desc()).limit(limit).offset(offset)
                )
            )
            return order_rows, n_orders, fill_rows, n_fills

    # runs ---------------------------------------------------------------------------------------
    def start_run(self, kind: str) -> int:
        with connection_scope(self._sessions, write=True) as conn:
            row = {
                "kind": kind,
                "exchange": self.exchange,
                "status": "running",
                "started_at": self._clock(),
                "orders_planned": 0,
                "orders_submitted": 0,
                "orders_skipped": 0,
                "orders_failed": 0,
            }
            return int(conn.execute(_INS_RUN, row).scalar_one())

    def finish_run(self, run_id: int, *, status: str, **values: Any) -> None:
        unknown = set(values) - set(_RUN.c.keys())
        if unknown:
            raise TypeError(f"execution_runs has no column {', '.join(sorted(unknown))}")
        values = {"status": status, "finished_at": self._clock(), **values}
        columns = tuple(values)
        statement = _UPD_RUN.get(columns)
        if statement is None:
            statement = _UPD_RUN[columns] = (
                update(_RUN)
                .where(_RUN.c.id == bindparam("x_id"))
                .values({name: bindparam(f"v_{name}", type_=_RUN.c[name].type) for name in columns})
            )
        with connection_scope(self._sessions, write=True) as conn:
            conn.execute(statement, {"x_id": run_id, **{f"v_{name}": value for name, value in values.items()}})


__all__ = [
    "FAILED",
    "OPEN_STATES",
    "PENDING",
    "REFUSED",
    "SENDING",
    "SKIPPED",
    "Applied",
    "Ledger",
    "OpenOrder",
    "PositionView",
    "RecordedFill",
    "base_asset_of",
]
