"""The paper exchange's prepared statements (built once; executed with parameters) and the one
write that needs more than a statement: a balance row an order creates."""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from sqlalchemy import Connection, Table, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from database.models.execution import PaperBalance, PaperOrder, PaperTrade

# Prepared statements of the order path (built once; executed with parameters).
_BALANCES = cast(Table, PaperBalance.__table__)
_ORDERS = cast(Table, PaperOrder.__table__)
_TRADES = cast(Table, PaperTrade.__table__)
# Locked (FOR UPDATE, in asset order so two writers never deadlock) for the read-then-write of an
# order: a second writer on PostgreSQL (a replica, a CLI) waits instead of losing an update.
# Amounts are exact decimal strings, so `free = free + x` cannot be done in SQL. SQLite ignores
# FOR UPDATE: it serialises writers itself.
SEL_BALANCES = (
    select(_BALANCES.c.asset, _BALANCES.c.free, _BALANCES.c.locked)
    .where(_BALANCES.c.asset.in_(bindparam("x_assets", expanding=True)))
    .order_by(_BALANCES.c.asset)
    .with_for_update()
)
# the two assets of an order (base, quote) as plain parameters: an expanding list is rendered anew
# on every execution
SEL_PAIR_BALANCES = (
    select(_BALANCES.c.asset, _BALANCES.c.free, _BALANCES.c.locked)
    .where(_BALANCES.c.asset.in_([bindparam("x_asset_1"), bindparam("x_asset_2")]))
    .order_by(_BALANCES.c.asset)
    .with_for_update()
)
SEL_ALL_BALANCES = select(_BALANCES.c.asset, _BALANCES.c.free, _BALANCES.c.locked)
UPD_BALANCE = (
    update(_BALANCES)
    .where(_BALANCES.c.asset == bindparam("x_asset"))
    .values(
        free=bindparam("v_free", type_=_BALANCES.c.free.type),
        locked=bindparam("v_locked", type_=_BALANCES.c.locked.type),
    )
)
INS_BALANCE = insert(_BALANCES)
INS_ORDER = insert(_ORDERS).returning(_ORDERS.c.id)
INS_TRADES = insert(_TRADES).returning(_TRADES.c.id, sort_by_parameter_order=True)


def insert_or_add(conn: Connection, asset: str, free_delta: Decimal, locked_delta: Decimal) -> None:
    """A balance row this order creates; if another writer created it meanwhile (PostgreSQL), lock
    it and add to it instead of failing (the savepoint keeps the order's transaction alive)."""
    if conn.dialect.name != "postgresql":  # SQLite: one writer at a time, the row cannot appear
        conn.execute(INS_BALANCE, {"asset": asset, "free": free_delta, "locked": locked_delta})
        return
    try:
        with conn.begin_nested():
            conn.execute(INS_BALANCE, {"asset": asset, "free": free_delta, "locked": locked_delta})
    except IntegrityError:
        row = conn.execute(SEL_BALANCES, {"x_assets": [asset]}).one()
        conn.execute(
            UPD_BALANCE, {"x_asset": asset, "v_free": row.free + free_delta, "v_locked": row.locked + locked_delta}
        )
