"""The guard's persistent state (QT_RISK_STATE_DB): kill switch override and recorded trades (one
row per order and UTC day of its fills, keyed by client order id, ``<id>@<day>`` for later days).

It lives in its own small database — a SQLite file by default, or any SQLAlchemy URL (PostgreSQL
when several replicas share it) — separate from the main database that Alembic owns. Its two tables
are created idempotently when the store opens (``create()``: CREATE TABLE IF NOT EXISTS), so a new
file or an empty database works without a migration step. Every write commits before the method
returns; SQLite runs with ``synchronous=FULL`` here so a committed kill switch survives power loss,
not only a crashed process.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TextClause,
    bindparam,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import TypeDecorator

from backend.exchanges.base import OrderSide
from backend.risk.models import KillSwitchOverride, TradeRecord, parse_part_key
from database.base import NAMING_CONVENTION, UTCDateTime
from database.session import engine_scope, make_engine

KILL_SWITCH_ROW = 1


class _DecimalText(TypeDecorator[Decimal]):
    """Exact decimal text: the same digits back on SQLite and PostgreSQL."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: object) -> str | None:
        if value is None:
            return None
        if not value.is_finite():
            raise ValueError(f"non-finite decimal {value}")
        return format(value, "f")

    def process_result_value(self, value: str | None, dialect: object) -> Decimal | None:
        return None if value is None else Decimal(value)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

kill_switch_table = Table(
    "risk_kill_switch",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("enabled", Boolean, nullable=True),  # NULL: follow QT_KILL_SWITCH
    Column("reason", Text, nullable=True),
    Column("actor", String(128), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
)

trades_table = Table(
    "risk_trades",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_order_id", String(64), nullable=False, unique=True),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", _DecimalText(), nullable=False),
    Column("notional", _DecimalText(), nullable=False),
    Column("realised_pnl", _DecimalText(), nullable=False),
    Column("time", UTCDateTime(), nullable=False, index=True),
)


# One row per POST /risk/reset: trades recorded before the newest reset are not restored from the
# ledger after a crash (the operator cleared them on purpose).
resets_table = Table(
    "risk_resets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
)


# Prepared statements of the fill path (built once; executed with parameters).
_TRADE_VALUES = ("symbol", "side", "quantity", "notional", "realised_pnl", "time")
_SEL_TRADE_FOR_UPDATE = (
    select(trades_table).where(trades_table.c.client_order_id == bindparam("x_coid")).with_for_update()
)
_INS_TRADE = insert(trades_table)
# An insert that skips a client order id already recorded (rowcount 0) instead of failing, on the
# dialects that have ON CONFLICT: the common case (a new execution) is then one statement, not a read
# first. Text, typed like the table: the dialects' own insert constructs are not cached (compiled anew
# on every call).
_TRADE_COLUMNS = ("client_order_id", *_TRADE_VALUES)
_INS_NEW_TRADE = text(
    "INSERT INTO risk_trades (client_order_id, symbol, side, quantity, notional, realised_pnl, time) "
    "VALUES (:client_order_id, :symbol, :side, :quantity, :notional, :realised_pnl, :time) "
    "ON CONFLICT (client_order_id) DO NOTHING"
).bindparams(*(bindparam(name, type_=trades_table.c[name].type) for name in _TRADE_COLUMNS))
ON_CONFLICT_DIALECTS = frozenset({"sqlite", "postgresql"})
_UPD_TRADE = (
    update(trades_table)
    .where(trades_table.c.id == bindparam("x_id"))
    .values({k: bindparam(f"v_{k}", type_=trades_table.c[k].type) for k in _TRADE_VALUES})
)


def state_engine(url: str) -> Engine:
    """An engine for the state store (lazy: nothing is opened); SQLite gets synchronous=FULL."""
    if not make_url(url).drivername.startswith("sqlite"):
        return make_engine(url)
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _full_sync(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()

    return engine


class RiskStateStore:
    """Synchronous, thread-safe (one connection per call from the pool); callers run it off the loop."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine if engine is not None else state_engine(url)

    def create(self) -> None:
        """Create the SQLite file's directory and the tables when missing (idempotent)."""
        url = self.engine.url
        if url.drivername.startswith("sqlite") and url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        metadata.create_all(self.engine, checkfirst=True)

    def close(self) -> None:
        self.engine.dispose()

    # kill switch ------------------------------------------------------------------------------
    def load_kill_switch(self) -> KillSwitchOverride | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(kill_switch_table).where(kill_switch_table.c.id == KILL_SWITCH_ROW)).one_or_none()
        if row is None:
            return None
        return KillSwitchOverride(enabled=row.enabled, reason=row.reason, actor=row.actor, updated_at=row.updated_at)

    def save_kill_switch(self, override: KillSwitchOverride) -> None:
        values = {
            "enabled": override.enabled,
            "reason": override.reason,
            "actor": override.actor,
            "updated_at": override.updated_at,
        }
        for attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    result = conn.execute(
                        update(kill_switch_table).where(kill_switch_table.c.id == KILL_SWITCH_ROW).values(**values)
                    )
                    if result.rowcount == 0:
                        conn.execute(insert(kill_switch_table).values(id=KILL_SWITCH_ROW, **values))
                return
            except IntegrityError:
                if attempt:  # another replica inserted the row between our update and insert
                    raise

    # trades -------------------------------------------------------------------------------------
    def add_trade(self, record: TradeRecord) -> bool:
        """Insert one trade; False when this client order id is already recorded (nothing changes)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(trades_table).values(
                        client_order_id=record.key,
                        symbol=record.symbol,
                        side=record.side.value,
                        quantity=record.quantity,
                        notional=record.notional,
                        realised_pnl=record.realised_pnl,
                        time=record.time,
                    )
                )
        except IntegrityError:
            return False
        return True

    def upsert_trade(self, record: TradeRecord) -> str:
        """Insert the trade, or correct the recorded one of the same key (client order id, and day
        for an order's later days) when the ledger has learnt more (realised PnL, executed quantity,
        fill time): ``added``, ``updated`` or ``same``."""
        return self.save_trades([record])[0]

    def save_trades(self, records: Sequence[TradeRecord], drop: Sequence[str] = ()) -> list[str]:
        """Upsert ``records`` (an order's days) and delete the rows of the keys in ``drop`` (days it
        turned out not to have), in one transaction; returns each record's outcome (``upsert_trade``).

        A row is read and written under a row lock (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
        serialises writers), so two replicas correcting the same execution never lose an update.
        """
        insert_new = _INS_NEW_TRADE if self.engine.dialect.name in ON_CONFLICT_DIALECTS else None
        for attempt in range(2):
            try:
                with engine_scope(self.engine, write=True) as conn:
                    outcomes = [self._upsert(conn, record, insert_new) for record in records]
                    if drop:
                        conn.execute(delete(trades_table).where(trades_table.c.client_order_id.in_(list(drop))))
                    return outcomes
            except IntegrityError:
                if attempt:  # another writer inserted one between our read and insert: read it again
                    raise
        return []  # pragma: no cover

    @staticmethod
    def _upsert(conn: Connection, record: TradeRecord, insert_new: TextClause | None) -> str:
        key = record.key
        values = {
            "symbol": record.symbol,
            "side": record.side.value,
            "quantity": record.quantity,
            "notional": record.notional,
            "realised_pnl": record.realised_pnl,
            "time": record.time,
        }
        if insert_new is not None:
            if conn.execute(insert_new, {"client_order_id": key, **values}).rowcount == 1:
                return "added"
        row = conn.execute(_SEL_TRADE_FOR_UPDATE, {"x_coid": key}).one_or_none()
        if row is None:
            conn.execute(_INS_TRADE, {"client_order_id": key, **values})
            return "added"
        if all(getattr(row, k) == v for k, v in values.items()):
            return "same"
        conn.execute(_UPD_TRADE, {"x_id": row.id, **{f"v_{k}": v for k, v in values.items()}})
        return "updated"

    def trades_since(self, start: datetime) -> list[TradeRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(trades_table).where(trades_table.c.time >= start).order_by(trades_table.c.id)
            ).all()
        records = []
        for row in rows:
            client_order_id, later_day = parse_part_key(row.client_order_id)
            records.append(
                TradeRecord(
                    client_order_id=client_order_id,
                    symbol=row.symbol,
                    side=OrderSide(row.side),
                    quantity=row.quantity,
                    notional=row.notional,
                    realised_pnl=row.realised_pnl,
                    time=row.time,
                    later_day=later_day,
                )
            )
        return records

    def reset(self, now: datetime | None = None) -> None:
        """Delete every recorded trade and the kill switch override, and note when, in one transaction."""
        with self.engine.begin() as conn:
            conn.execute(delete(trades_table))
            conn.execute(delete(kill_switch_table))
            conn.execute(insert(resets_table).values(at=now or datetime.now(UTC)))

    def last_reset(self) -> datetime | None:
        with self.engine.connect() as conn:
            at: datetime | None = conn.execute(select(func.max(resets_table.c.at))).scalar()
        return at
