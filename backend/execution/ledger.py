"""The ledger: orders, fills, average-cost positions, cash and run records, in the database.

Every fill is recorded once (unique exchange + symbol + trade id) in the same transaction that
moves the position and the cash, so a crash can never count a trade twice or half. Orders are
written before they are sent and updated after, so an order whose answer was lost is still known
(status UNKNOWN) and is looked up by its client order id before anything is resubmitted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import Fill, OrderResult, OrderSide, OrderStatus
from backend.execution.accounting import PositionState, apply_fee_asset_sale, apply_fill
from backend.risk.models import TradeRecord
from database.models.execution import ExecutionRun, FillRecord, LedgerBalance, Order, Position

ZERO = Decimal(0)
PENDING = "PENDING"  # persisted, not yet sent
REFUSED = "REFUSED"  # the risk guard said no; never sent
FAILED = "FAILED"  # sending failed in a way that proves nothing was placed
SKIPPED = "SKIPPED"  # planned and persisted, then not sent (cash after sells, cycle stopped)
SENDING = "SENDING"  # claimed by its leader for sending (fenced): from here the outcome may be unknown
OPEN_STATES = (
    PENDING,
    SENDING,
    OrderStatus.UNKNOWN.value,
    OrderStatus.NEW.value,
    OrderStatus.PARTIALLY_FILLED.value,
)


@dataclass(frozen=True, slots=True)
class RecordedFill:
    fill: Fill
    realised_pnl: Decimal
    fee_quote: Decimal
    client_order_id: str | None


@dataclass(frozen=True, slots=True)
class Applied:
    """What one transaction changed: the fills it recorded, the holdings and cash after it."""

    fills: list[RecordedFill]
    quantities: dict[str, Decimal]  # symbol -> position quantity after, for the symbols touched
    cash: Decimal


@dataclass(frozen=True, slots=True)
class PositionView:
    symbol: str
    base_asset: str
    quantity: Decimal
    average_cost: Decimal
    realised_pnl: Decimal
    fees_paid: Decimal
    last_price: Decimal | None


@dataclass(frozen=True, slots=True)
class OpenOrder:
    client_order_id: str
    symbol: str
    side: OrderSide
    status: str
    requested_quantity: Decimal
    created_at: datetime | None = None
    unknown_since: datetime | None = None
    next_lookup_at: datetime | None = None
    lookups: int = 0
    leader_epoch: int | None = None
    quote_order_qty: Decimal | None = None


# Prepared statements of the trading path (built once; executed with parameters).
_BAL = cast(Table, LedgerBalance.__table__)
_POS = cast(Table, Position.__table__)
_FILL = cast(Table, FillRecord.__table__)
_ORD = cast(Table, Order.__table__)
_SEL_BALANCE = select(_BAL.c.id, _BAL.c.amount).where(
    _BAL.c.exchange == bindparam("x_exchange"), _BAL.c.asset == bindparam("x_asset")
)
_INS_BALANCE = insert(_BAL).returning(_BAL.c.id)
_UPD_BALANCE = (
    update(_BAL)
    .where(_BAL.c.id == bindparam("x_id"))
    .values(
        amount=bindparam("v_amount", type_=_BAL.c.amount.type),
        updated_at=bindparam("v_updated_at", type_=_BAL.c.updated_at.type),
    )
)
_SEL_ORDER_ID = select(_ORD.c.id).where(_ORD.c.client_order_id == bindparam("x_coid"))
_SEL_SEEN = select(_FILL.c.symbol, _FILL.c.trade_id).where(
    _FILL.c.exchange == bindparam("x_exchange"),
    _FILL.c.symbol.in_(bindparam("x_symbols", expanding=True)),
    _FILL.c.trade_id.in_(bindparam("x_ids", expanding=True)),
)
_SEL_POSITIONS = select(
    _POS.c.symbol, _POS.c.base_asset, _POS.c.quantity, _POS.c.average_cost, _POS.c.realised_pnl, _POS.c.fees_paid
).where(_POS.c.exchange == bindparam("x_exchange"), _POS.c.symbol.in_(bindparam("x_symbols", expanding=True)))
_POSITION_VALUES = ("quantity", "average_cost", "realised_pnl", "fees_paid", "updated_at")
_UPD_POSITION = (
    update(_POS)
    .where(_POS.c.exchange == bindparam("x_exchange"), _POS.c.symbol == bindparam("x_symbol"))
    .values({name: bindparam(f"v_{name}", type_=_POS.c[name].type) for name in _POSITION_VALUES})
)
_INS_POSITION = insert(_POS)
_UPD_MARK = (
    update(_POS)
    .where(_POS.c.exchange == bindparam("x_exchange"), _POS.c.symbol == bindparam("x_symbol"))
    .values(last_price=bindparam("v_last_price", type_=_POS.c.last_price.type))
)
_INS_ORDER = insert(_ORD)
_INS_FILL = insert(_FILL)
_RESULT_COLUMNS = {"status", "updated_at", "exchange_order_id", "executed_quantity", "quote_quantity"}
_UPD_ORDER_RESULT = (
    update(_ORD)
    .where(_ORD.c.id == bindparam("x_id"))
    .values({name: bindparam(f"v_{name}", type_=_ORD.c[name].type) for name in sorted(_RESULT_COLUMNS)})
)


def _order_values(change: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Column values for an order update given as (status, result, error_code, error_message)."""
    values: dict[str, Any] = {"status": change["status"], "updated_at": now}
    result: OrderResult | None = change.get("result")
    if result is not None:
        values.update(
            exchange_order_id=result.exchange_order_id,
            executed_quantity=result.executed_quantity,
            quote_quantity=result.quote_quantity,
        )
    if change.get("error_code") is not None:
        values["error_code"] = change["error_code"]
    if change.get("error_message") is not None:
        values["error_message"] = str(change["error_message"])[:2000]
    return values


def base_asset_of(symbol: str, quote: str) -> str:
    return symbol[: -len(quote)] if symbol.endswith(quote) and len(symbol) > len(quote) else symbol


class Ledger:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        exchange: str,
        quote_asset: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self.exchange = exchange
        self.quote = quote_asset
        self._clock = clock

    # cash ---------------------------------------------------------------------------------------
    def _balance(self, session: Session) -> LedgerBalance | None:
        return session.scalar(
            select(LedgerBalance).where(LedgerBalance.exchange == self.exchange, LedgerBalance.asset == self.quote)
        )

    def is_seeded(self) -> bool:
        with self._sessions() as session:
            return self._balance(session) is not None

    def seed(self, amount: Decimal) -> None:
        """Start the ledger's cash at what the exchange holds (first start only)."""
        with self._sessions.begin() as session:
            if self._balance(session) is None:
                session.add(
                    LedgerBalance(
                        exchange=self.exchange,
                        asset=self.quote,
                        amount=amount,
                        contributed=amount,
                        updated_at=self._clock(),
                    )
                )

    def cash(self) -> Decimal:
        with self._sessions() as session:
            row = self._balance(session)
            return row.amount if row else ZERO

    def contributed(self) -> Decimal:
        with self._sessions() as session:
            row = self._balance(session)
            return row.contributed if row else ZERO

    def adjust_cash(self, amount: Decimal) -> Decimal:
        """Set cash to the exchange's figure (reconciliation); the difference counts as contributed."""
        with self._sessions.begin() as session:
            row = self._balance(session)
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
            pos = self._position(session, symbol, base_asset)
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
            bal = self._balance(session)
            if bal is not None:
                # an addition comes in at `price`, a removal leaves at its average cost: either way
                # cash + Σ quantity × mark == contributed + realised + unrealised still holds
                bal.contributed += diff * (price if diff > 0 else old_average)
            return diff

    # positions ----------------------------------------------------------------------------------
    def _position(self, session: Session, symbol: str, base_asset: str) -> Position:
        pos = session.scalar(select(Position).where(Position.exchange == self.exchange, Position.symbol == symbol))
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
        with self._sessions() as session:
            rows = session.scalars(select(Position).where(Position.exchange == self.exchange).order_by(Position.symbol))
            return {
                p.symbol: PositionView(
                    symbol=p.symbol,
                    base_asset=p.base_asset,
                    quantity=p.quantity,
                    average_cost=p.average_cost,
                    realised_pnl=p.realised_pnl,
                    fees_paid=p.fees_paid,
                    last_price=p.last_price,
                )
                for p in rows
            }

    def set_marks(self, marks: dict[str, Decimal]) -> None:
        with self._sessions.begin() as session:
            conn = session.connection()
            rows = [
                {"x_exchange": self.exchange, "x_symbol": row.symbol, "v_last_price": marks[row.symbol]}
                for row in conn.execute(
                    select(_POS.c.symbol, _POS.c.last_price).where(_POS.c.exchange == self.exchange)
                )
                if row.symbol in marks and marks[row.symbol] != row.last_price
            ]
            if rows:
                conn.execute(_UPD_MARK, rows)

    # fills --------------------------------------------------------------------------------------
    def record_fills(
        self,
        fills: Sequence[Fill],
        *,
        base_assets: dict[str, str],
        conversions: dict[str, Decimal] | None = None,
        client_order_id: str | None = None,
    ) -> list[RecordedFill]:
        """Apply the fills not seen before; returns those newly recorded (one transaction)."""
        return self.apply(
            fills, base_assets=base_assets, conversions=conversions, client_order_id=client_order_id
        ).fills

    def apply(
        self,
        fills: Sequence[Fill],
        *,
        base_assets: dict[str, str],
        conversions: dict[str, Decimal] | None = None,
        client_order_id: str | None = None,
        order_update: dict[str, Any] | None = None,
    ) -> Applied:
        """Record new fills and (optionally) the order's new state in one transaction.

        Prepared Core statements rather than the ORM: this runs once per order on the trading path.
        """
        conversions = conversions or {}
        now = self._clock()
        recorded: list[RecordedFill] = []
        quantities: dict[str, Decimal] = {}
        with self._sessions.begin() as session:
            conn = session.connection()
            bal = conn.execute(_SEL_BALANCE, {"x_exchange": self.exchange, "x_asset": self.quote}).first()
            if bal is None:
                bal_id = conn.execute(
                    _INS_BALANCE,
                    {
                        "exchange": self.exchange,
                        "asset": self.quote,
                        "amount": ZERO,
                        "contributed": ZERO,
                        "updated_at": now,
                    },
                ).scalar_one()
                cash = ZERO
            else:
                bal_id, cash = bal.id, bal.amount
            order_id: int | None = None
            if client_order_id is not None:
                order_id = conn.execute(_SEL_ORDER_ID, {"x_coid": client_order_id}).scalar()
            seen: set[tuple[str, str]] = set()
            states: dict[str, PositionState] = {}
            existing: set[str] = set()
            bases: dict[str, str] = {}
            if fills:
                seen = {
                    (row[0], row[1])
                    for row in conn.execute(
                        _SEL_SEEN,
                        {
                            "x_exchange": self.exchange,
                            "x_symbols": sorted({f.symbol for f in fills}),
                            "x_ids": sorted({f.trade_id for f in fills}),
                        },
                    )
                }
                wanted = {f.symbol for f in fills} | {
                    f"{f.fee_asset}{self.quote}" for f in fills if f.fee_asset != self.quote
                }
                for row in conn.execute(_SEL_POSITIONS, {"x_exchange": self.exchange, "x_symbols": sorted(wanted)}):
                    states[row.symbol] = PositionState(row.quantity, row.average_cost, row.realised_pnl, row.fees_paid)
                    existing.add(row.symbol)
                    bases[row.symbol] = row.base_asset
            touched: set[str] = set()
            fill_rows: list[dict[str, Any]] = []
            for fill in fills:
                key = (fill.symbol, fill.trade_id)
                if key in seen:
                    continue
                seen.add(key)
                base = base_assets.get(fill.symbol) or bases.get(fill.symbol) or base_asset_of(fill.symbol, self.quote)
                bases.setdefault(fill.symbol, base)
                conversion = conversions.get(fill.fee_asset, ZERO)
                effect = apply_fill(
                    states.get(fill.symbol, PositionState()),
                    side=fill.side,
                    price=fill.price,
                    quantity=fill.quantity,
                    fee=fill.fee,
                    fee_asset=fill.fee_asset,
                    base=base,
                    quote=self.quote,
                    conversion=conversion,
                )
                states[fill.symbol] = effect.position
                touched.add(fill.symbol)
                if fill.fee > 0 and fill.fee_asset not in (base, self.quote):
                    fee_symbol = f"{fill.fee_asset}{self.quote}"
                    bases.setdefault(fee_symbol, fill.fee_asset)
                    states[fee_symbol], _ = apply_fee_asset_sale(
                        states.get(fee_symbol, PositionState()), amount=fill.fee, conversion=conversion
                    )
                    touched.add(fee_symbol)
                cash += effect.cash_delta
                fill_rows.append(
                    {
                        "order_id": order_id,
                        "exchange": self.exchange,
                        "trade_id": fill.trade_id,
                        "client_order_id": client_order_id,
                        "symbol": fill.symbol,
                        "side": fill.side.value,
                        "price": fill.price,
                        "quantity": fill.quantity,
                        "fee": fill.fee,
                        "fee_asset": fill.fee_asset,
                        "fee_quote": effect.fee_quote,
                        "realised_pnl": effect.realised_delta,
                        "time": fill.time,
                        "recorded_at": now,
                    }
                )
                recorded.append(RecordedFill(fill, effect.realised_delta, effect.fee_quote, client_order_id))
            updates: list[dict[str, Any]] = []
            for symbol in sorted(touched):
                state = states[symbol]
                values = {
                    "quantity": state.quantity,
                    "average_cost": state.average_cost,
                    "realised_pnl": state.realised_pnl,
                    "fees_paid": state.fees_paid,
                    "updated_at": now,
                }
                if symbol in existing:
                    updates.append(
                        {"x_exchange": self.exchange, "x_symbol": symbol, **{f"v_{k}": v for k, v in values.items()}}
                    )
                else:
                    conn.execute(
                        _INS_POSITION,
                        {
                            "exchange": self.exchange,
                            "symbol": symbol,
                            "base_asset": bases[symbol],
                            "last_price": None,
                            **values,
                        },
                    )
                quantities[symbol] = state.quantity
            if updates:
                conn.execute(_UPD_POSITION, updates)
            if fill_rows:
                conn.execute(_INS_FILL, fill_rows)
                conn.execute(_UPD_BALANCE, {"x_id": bal_id, "v_amount": cash, "v_updated_at": now})
            if order_id is not None and order_update:
                values = _order_values(order_update, now)
                if set(values) == _RESULT_COLUMNS:
                    conn.execute(_UPD_ORDER_RESULT, {"x_id": order_id, **{f"v_{k}": v for k, v in values.items()}})
                else:
                    order_t = cast(Table, Order.__table__)
                    conn.execute(update(order_t).where(order_t.c.id == order_id).values(**values))
        return Applied(recorded, quantities, cash)

    def fill_count(self) -> int:
        with self._sessions() as session:
            return int(session.scalar(select(func.count()).select_from(FillRecord)) or 0)

    def latest_fill_time(self, symbol: str) -> datetime | None:
        with self._sessions() as session:
            return session.scalar(
                select(func.max(FillRecord.time)).where(
                    FillRecord.exchange == self.exchange, FillRecord.symbol == symbol
                )
            )

    # orders -------------------------------------------------------------------------------------
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
                "status": PENDING,
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
            }
            for o in orders
        ]
        with self._sessions.begin() as session:
            session.connection().execute(_INS_ORDER, rows)

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
        """Each order that executed something, with its fills' realised PnL, last fill after `since`."""
        with self._sessions() as session:
            rows = session.execute(
                select(
                    Order.client_order_id,
                    Order.symbol,
                    Order.side,
                    Order.executed_quantity,
                    Order.quote_quantity,
                    func.max(FillRecord.time),
                )
                .join(FillRecord, FillRecord.client_order_id == Order.client_order_id)
                .where(Order.exchange == self.exchange)
                .group_by(Order.id)
                .having(func.max(FillRecord.time) >= since)
            ).all()
            pnl_rows = session.execute(
                select(FillRecord.client_order_id, FillRecord.realised_pnl).where(
                    FillRecord.exchange == self.exchange, FillRecord.time >= since
                )
            ).all()
        pnl: dict[str, Decimal] = {}
        for coid, value in pnl_rows:
            pnl[coid] = pnl.get(coid, Decimal(0)) + value
        return [
            TradeRecord(
                client_order_id=coid,
                symbol=symbol,
                side=OrderSide(side),
                quantity=qty,
                notional=quote,
                realised_pnl=pnl.get(coid, Decimal(0)),
                time=last if last.tzinfo is not None else last.replace(tzinfo=UTC),
            )
            for coid, symbol, side, qty, quote, last in rows
            if qty > 0
        ]

    def realised_pnl_between(self, start: datetime, end: datetime) -> Decimal:
        """Realised PnL of the fills in [start, end) (the daily-loss figure the guard must agree with)."""
        with self._sessions() as session:
            values = session.scalars(  # summed here: SQLite's SUM would go through a float
                select(FillRecord.realised_pnl).where(
                    FillRecord.exchange == self.exchange, FillRecord.time >= start, FillRecord.time < end
                )
            )
            return sum(values, ZERO)

    def open_orders(self) -> list[OpenOrder]:
        """Orders whose outcome is not final: persisted-unsent, unknown, or still working."""
        with self._sessions() as session:
            rows = session.scalars(
                select(Order).where(Order.exchange == self.exchange, Order.status.in_(OPEN_STATES)).order_by(Order.id)
            )
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
                )
                for o in rows
            ]

    # unknown outcomes and fencing ----------------------------------------------------------------
    def claim_for_sending(self, client_order_id: str, epoch: int | None, quote_quantity: Decimal | None = None) -> bool:
        """``PENDING → SENDING`` in one statement, only for the epoch that planned it and only if no
        one touched the row since (a new leader that failed it wins): True when this caller may send."""
        now = self._clock()
        epoch_match = _ORD.c.leader_epoch.is_(None) if epoch is None else _ORD.c.leader_epoch == epoch
        with self._sessions.begin() as session:
            result = session.connection().execute(
                update(_ORD)
                .where(_ORD.c.client_order_id == client_order_id, _ORD.c.status == PENDING, epoch_match)
                .values(
                    status=SENDING,
                    unknown_since=now,
                    next_lookup_at=now,
                    updated_at=now,
                    quote_order_qty=quote_quantity,
                )
            )
            return bool(result.rowcount == 1)

    def mark_unknown(self, client_order_id: str, message: str) -> None:
        """The answer was lost: UNKNOWN, keeping the time the outcome first became unknown."""
        now = self._clock()
        with self._sessions.begin() as session:
            session.connection().execute(
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
        with self._sessions.begin() as session:
            session.connection().execute(
                update(_ORD)
                .where(_ORD.c.client_order_id == client_order_id)
                .values(next_lookup_at=at, lookups=_ORD.c.lookups + 1)
            )

    def fail_if_status(self, client_order_id: str, status: str, message: str) -> bool:
        """Mark FAILED only if the order is still in ``status`` (a concurrent claim or answer wins)."""
        now = self._clock()
        with self._sessions.begin() as session:
            result = session.connection().execute(
                update(_ORD)
                .where(_ORD.c.client_order_id == client_order_id, _ORD.c.status == status)
                .values(status=FAILED, error_message=message[:2000], updated_at=now, next_lookup_at=None)
            )
            return bool(result.rowcount == 1)

    def client_order_ids(self) -> list[str]:
        with self._sessions() as session:
            return list(session.scalars(select(Order.client_order_id).order_by(Order.id)))

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
        with self._sessions.begin() as session:
            run = ExecutionRun(
                kind=kind,
                exchange=self.exchange,
                status="running",
                started_at=self._clock(),
                orders_planned=0,
                orders_submitted=0,
                orders_skipped=0,
                orders_failed=0,
            )
            session.add(run)
            session.flush()
            return run.id

    def finish_run(self, run_id: int, *, status: str, **values: Any) -> None:
        with self._sessions.begin() as session:
            run = session.get(ExecutionRun, run_id)
            if run is None:
                return
            run.status = status
            run.finished_at = self._clock()
            for key, value in values.items():
                setattr(run, key, value)
