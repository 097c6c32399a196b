"""The scratch database's scopes: one open Connection reused by every scope (SharedConnectionPool),
with the same transactions as a connection per scope: writes commit, a failed write leaves nothing,
a scope inside a scope joins the outer one's transaction, the ORM sessions work beside it, and
disposing the engine closes it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Select, Table, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from backend.backtest.scratch import scratch_engine
from database.models.execution import LedgerBalance
from database.session import SharedConnectionPool, connection_scope, engine_scope

NOW = datetime(2026, 12, 1, tzinfo=UTC)
BAL: Table = LedgerBalance.__table__  # type: ignore[assignment]


def row(asset: str, amount: str = "1") -> dict[str, object]:
    return {
        "exchange": "paper",
        "asset": asset,
        "amount": Decimal(amount),
        "contributed": Decimal(amount),
        "updated_at": NOW,
    }


def count() -> Select[tuple[int]]:
    return select(func.count()).select_from(BAL)


def test_scopes_share_one_connection_and_keep_their_transactions() -> None:
    engine, sessions = scratch_engine()
    try:
        assert isinstance(engine.pool, SharedConnectionPool)
        with connection_scope(sessions, write=True) as conn:
            conn.execute(insert(BAL), row("BTC"))
            first = conn
        with connection_scope(sessions) as conn:
            assert conn is first  # the same Connection, no checkout per scope
            assert conn.execute(count()).scalar() == 1
        assert not first.in_transaction()  # a read ends its transaction

        def insert_twice() -> None:
            with connection_scope(sessions, write=True) as conn:
                conn.execute(insert(BAL), row("ETH"))
                conn.execute(insert(BAL), row("BTC"))  # the same (exchange, asset): the scope fails

        with pytest.raises(IntegrityError):
            insert_twice()
        with connection_scope(sessions) as conn:  # nothing of the failed scope stays; the next one works
            assert conn.execute(select(BAL.c.asset)).scalars().all() == ["BTC"]

        def delete_then_fail() -> None:
            with engine_scope(engine, write=True) as conn:
                conn.execute(delete(BAL))
                raise RuntimeError("the caller fails after its statement")

        with pytest.raises(RuntimeError):
            delete_then_fail()
        with engine_scope(engine) as conn:
            assert conn.execute(count()).scalar() == 1
    finally:
        engine.dispose()


def test_a_scope_inside_a_scope_and_the_sessions_work_beside_the_shared_connection() -> None:
    engine, sessions = scratch_engine()
    try:
        with connection_scope(sessions, write=True) as outer:
            outer.execute(insert(BAL), row("BTC"))
            with connection_scope(sessions) as inner:  # inside the outer scope's transaction
                assert inner.execute(count()).scalar() == 1
            outer.execute(insert(BAL), row("XRP", "3"))  # the outer scope goes on
        with sessions.begin() as session:  # an ORM write on the same database
            session.add(LedgerBalance(**row("ETH", "2")))
        with connection_scope(sessions) as conn:
            assert dict(conn.execute(select(BAL.c.asset, BAL.c.amount)).tuples().all()) == {
                "BTC": Decimal(1),
                "ETH": Decimal(2),
                "XRP": Decimal(3),
            }
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(LedgerBalance)) == 3
    finally:
        engine.dispose()


def test_disposing_the_engine_closes_the_shared_connection() -> None:
    engine, sessions = scratch_engine()
    with connection_scope(sessions, write=True) as conn:
        conn.execute(insert(BAL), row("BTC"))
        held = conn
    engine.dispose()
    assert held.closed
