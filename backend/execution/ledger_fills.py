"""The ledger's fill path: each new fill moves the position and the cash in one transaction.

A fill is recorded once (unique exchange + symbol + trade id) in the same transaction that moves
the position and the cash, so a crash can never count a trade twice or half. Prepared Core
statements rather than the ORM: this runs once per order on the trading path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update

from backend.exchanges.base import Fill, OrderResult
from backend.execution.accounting import PositionState, apply_fee_asset_sale, apply_fill
from backend.execution.ledger_records import ZERO, Applied, LedgerBase, RecordedFill
from database.models.execution import FillRecord, LedgerBalance, Order, Position
from database.session import connection_scope

# Prepared statements of the trading path (built once; executed with parameters).
_BAL = cast(Table, LedgerBalance.__table__)
_POS = cast(Table, Position.__table__)
_FILL = cast(Table, FillRecord.__table__)
_ORD = cast(Table, Order.__table__)
# The cash row is locked first (FOR UPDATE) by every write that reads then writes the ledger, then
# the positions: a second writer on PostgreSQL (a replica, a CLI) waits instead of losing an
# update, and always in the same order, so two writers never deadlock. Amounts are exact decimal
# strings: `amount = amount + x` cannot be done in SQL. SQLite ignores FOR UPDATE (one writer).
_SEL_ORDER_ID = select(_ORD.c.id).where(_ORD.c.client_order_id == bindparam("x_coid"))
# the order's id comes with the locked cash row (one read, not two); only the cash row is locked
_SEL_BALANCE = (
    select(_BAL.c.id, _BAL.c.amount, _SEL_ORDER_ID.scalar_subquery().label("order_id"))
    .where(_BAL.c.exchange == bindparam("x_exchange"), _BAL.c.asset == bindparam("x_asset"))
    .with_for_update(of=_BAL)
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
_SEL_SEEN = select(_FILL.c.symbol, _FILL.c.trade_id).where(
    _FILL.c.exchange == bindparam("x_exchange"),
    _FILL.c.symbol.in_(bindparam("x_symbols", expanding=True)),
    _FILL.c.trade_id.in_(bindparam("x_ids", expanding=True)),
)
# the common case, one symbol and one trade, with plain parameters (an expanding list is rendered
# anew on every execution)
_SEL_SEEN_ONE = select(_FILL.c.symbol, _FILL.c.trade_id).where(
    _FILL.c.exchange == bindparam("x_exchange"),
    _FILL.c.symbol == bindparam("x_symbol"),
    _FILL.c.trade_id == bindparam("x_id"),
)
_SEL_POSITIONS = (
    select(
        _POS.c.symbol, _POS.c.base_asset, _POS.c.quantity, _POS.c.average_cost, _POS.c.realised_pnl, _POS.c.fees_paid
    )
    .where(_POS.c.exchange == bindparam("x_exchange"), _POS.c.symbol.in_(bindparam("x_symbols", expanding=True)))
    .order_by(_POS.c.symbol)
    .with_for_update()
)
_SEL_POSITION_ONE = (
    select(
        _POS.c.symbol, _POS.c.base_asset, _POS.c.quantity, _POS.c.average_cost, _POS.c.realised_pnl, _POS.c.fees_paid
    )
    .where(_POS.c.exchange == bindparam("x_exchange"), _POS.c.symbol == bindparam("x_symbol"))
    .with_for_update()
)
_POSITION_VALUES = ("quantity", "average_cost", "realised_pnl", "fees_paid", "updated_at")
_UPD_POSITION = (
    update(_POS)
    .where(_POS.c.exchange == bindparam("x_exchange"), _POS.c.symbol == bindparam("x_symbol"))
    .values({name: bindparam(f"v_{name}", type_=_POS.c[name].type) for name in _POSITION_VALUES})
)
_INS_POSITION = insert(_POS)
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


class LedgerFills(LedgerBase):
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
        costs: dict[str, Decimal] = {}
        with connection_scope(self._sessions, write=True) as conn:
            bal = conn.execute(
                _SEL_BALANCE, {"x_exchange": self.exchange, "x_asset": self.quote, "x_coid": client_order_id}
            ).first()
            order_id: int | None = None
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
                if client_order_id is not None:
                    order_id = conn.execute(_SEL_ORDER_ID, {"x_coid": client_order_id}).scalar()
            else:
                bal_id, cash, order_id = bal.id, bal.amount, bal.order_id
            seen: set[tuple[str, str]] = set()
            states: dict[str, PositionState] = {}
            existing: set[str] = set()
            bases: dict[str, str] = {}
            if fills:
                symbols = sorted({f.symbol for f in fills})
                ids = sorted({f.trade_id for f in fills})
                if len(symbols) == 1 and len(ids) == 1:
                    seen_rows = conn.execute(
                        _SEL_SEEN_ONE, {"x_exchange": self.exchange, "x_symbol": symbols[0], "x_id": ids[0]}
                    )
                else:
                    seen_rows = conn.execute(
                        _SEL_SEEN, {"x_exchange": self.exchange, "x_symbols": symbols, "x_ids": ids}
                    )
                seen = {(row[0], row[1]) for row in seen_rows}
                wanted = sorted(
                    set(symbols) | {f"{f.fee_asset}{self.quote}" for f in fills if f.fee_asset != self.quote}
                )
                if len(wanted) == 1:
                    held = conn.execute(_SEL_POSITION_ONE, {"x_exchange": self.exchange, "x_symbol": wanted[0]})
                else:
                    held = conn.execute(_SEL_POSITIONS, {"x_exchange": self.exchange, "x_symbols": wanted})
                for row in held:
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
                costs[symbol] = state.quantity * state.average_cost
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
        return Applied(recorded, quantities, cash, costs)

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

    def fee_assets(self) -> set[str]:
        """Assets that paid a fee on another asset's trade (BNB when fees are paid in BNB): the
        account needs them, so the planner keeps them."""
        with self._sessions() as session:
            rows = session.execute(
                select(_FILL.c.fee_asset, _FILL.c.symbol)
                .where(_FILL.c.exchange == self.exchange, _FILL.c.fee_asset != self.quote)
                .distinct()
            ).all()
        return {asset for asset, symbol in rows if asset and base_asset_of(symbol, self.quote) != asset}
