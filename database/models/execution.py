"""Tables of the execution domain: the ledger (orders, fills, positions, balances, runs) and the
paper exchange's own state (paper_balances, paper_orders, paper_trades).

Money and quantities are stored as exact decimal strings (`DecimalString`): SQLite has no exact
decimal type, and the same representation on both backends keeps the ledger identical to the cent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from database.base import Base


class DecimalString(TypeDecorator[Decimal]):
    """A Decimal stored as its exact text (no float on the way in or out)."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"DecimalString column needs a Decimal, got {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"non-finite decimal {value}")
        return format(value, "f")

    def process_result_value(self, value: str | None, dialect: object) -> Decimal | None:
        return None if value is None else Decimal(value)


Dec = DecimalString()


class ExecutionRun(Base):
    """One rebalance cycle (or start-up reconciliation): what was planned, sent, skipped and why."""

    __tablename__ = "execution_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # cycle | reconcile
    exchange: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | ok | degraded | failed | halted
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    equity: Mapped[Decimal | None] = mapped_column(Dec)
    gross_exposure: Mapped[Decimal | None] = mapped_column(Dec)
    orders_planned: Mapped[int] = mapped_column(Integer, default=0)
    orders_submitted: Mapped[int] = mapped_column(Integer, default=0)
    orders_skipped: Mapped[int] = mapped_column(Integer, default=0)
    orders_failed: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class Order(Base):
    """An order as the ledger knows it; persisted before it is sent and updated after."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("execution_runs.id", ondelete="SET NULL"), index=True)
    exchange: Mapped[str] = mapped_column(String(16))
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(16))
    requested_quantity: Mapped[Decimal] = mapped_column(Dec)
    executed_quantity: Mapped[Decimal] = mapped_column(Dec)
    quote_quantity: Mapped[Decimal] = mapped_column(Dec)
    reference_price: Mapped[Decimal | None] = mapped_column(Dec)
    status: Mapped[str] = mapped_column(String(24), index=True)  # PENDING | UNKNOWN | Binance states | REFUSED
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)  # why it was cut, if it was
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    leader_epoch: Mapped[int | None] = mapped_column(BigInteger)  # fencing: the epoch that planned it
    unknown_since: Mapped[datetime | None]  # claimed for sending, or its answer was lost
    next_lookup_at: Mapped[datetime | None]  # the next lookup of an unknown outcome (backoff)
    lookups: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    quote_order_qty: Mapped[Decimal | None] = mapped_column(Dec)  # a buy sent by quote amount
    # a child order (a re-priced maker order, the taker finish, a slice): the planned order it works
    parent_client_order_id: Mapped[str | None] = mapped_column(String(64), index=True)


class Installation(Base):
    """One row: this deployment's client order id prefix (a reset database never reuses an id)."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    client_id_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class FillRecord(Base):
    """One exchange trade; recorded once per (exchange, symbol, trade id)."""

    __tablename__ = "fills"
    __table_args__ = (UniqueConstraint("exchange", "symbol", "trade_id", name="uq_fills_exchange_symbol_trade"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    exchange: Mapped[str] = mapped_column(String(16))
    trade_id: Mapped[str] = mapped_column(String(64))
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal] = mapped_column(Dec)
    quantity: Mapped[Decimal] = mapped_column(Dec)
    fee: Mapped[Decimal] = mapped_column(Dec)
    fee_asset: Mapped[str] = mapped_column(String(16))
    fee_quote: Mapped[Decimal] = mapped_column(Dec)  # the fee in the quote asset
    realised_pnl: Mapped[Decimal] = mapped_column(Dec)  # net of this fill's fee
    time: Mapped[datetime] = mapped_column(index=True)
    recorded_at: Mapped[datetime]


class Position(Base):
    """Average-cost position per symbol (quantity in the base asset)."""

    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("exchange", "symbol", name="uq_positions_exchange_symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange: Mapped[str] = mapped_column(String(16))
    symbol: Mapped[str] = mapped_column(String(32))
    base_asset: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[Decimal] = mapped_column(Dec)
    average_cost: Mapped[Decimal] = mapped_column(Dec)  # quote per base, fees excluded
    realised_pnl: Mapped[Decimal] = mapped_column(Dec)  # net of every fee of this symbol
    fees_paid: Mapped[Decimal] = mapped_column(Dec)  # quote asset
    last_price: Mapped[Decimal | None] = mapped_column(Dec)
    updated_at: Mapped[datetime]


class LedgerBalance(Base):
    """The ledger's cash per asset, and the net external flows (seed, adjustments) into it."""

    __tablename__ = "balances"
    __table_args__ = (UniqueConstraint("exchange", "asset", name="uq_balances_exchange_asset"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    exchange: Mapped[str] = mapped_column(String(16))
    asset: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Dec)
    contributed: Mapped[Decimal] = mapped_column(Dec)  # starting cash plus reconciliation adjustments
    updated_at: Mapped[datetime]


class PaperBalance(Base):
    """The paper exchange's account (its truth, separate from the ledger's view)."""

    __tablename__ = "paper_balances"

    asset: Mapped[str] = mapped_column(String(16), primary_key=True)
    free: Mapped[Decimal] = mapped_column(Dec)
    locked: Mapped[Decimal] = mapped_column(Dec)


class PaperOrder(Base):
    __tablename__ = "paper_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_order_id: Mapped[str] = mapped_column(String(64), unique=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    side: Mapped[str] = mapped_column(String(4))
    order_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    requested_quantity: Mapped[Decimal] = mapped_column(Dec)
    executed_quantity: Mapped[Decimal] = mapped_column(Dec)
    quote_quantity: Mapped[Decimal] = mapped_column(Dec)
    created_at: Mapped[datetime]
    # resting orders (LIMIT GTC, LIMIT_MAKER): the limit price, the time in force, when the order
    # last changed, and up to when the market's bars have been matched against it
    price: Mapped[Decimal | None] = mapped_column(Dec)
    time_in_force: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime | None]
    matched_until: Mapped[datetime | None]


class PaperTrade(Base):
    __tablename__ = "paper_trades"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("paper_orders.id", ondelete="CASCADE"), index=True)
    symbol: Mapped[str] = mapped_column(String(32), index=True)
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal] = mapped_column(Dec)
    quantity: Mapped[Decimal] = mapped_column(Dec)
    fee: Mapped[Decimal] = mapped_column(Dec)
    fee_asset: Mapped[str] = mapped_column(String(16))
    time: Mapped[datetime]
