"""Two writers on PostgreSQL (replicas, a CLI beside the service) never lose an update of the
ledger or the paper exchange: every read-then-write locks its rows (SELECT ... FOR UPDATE).

Each test holds a row in one real session (the other writer, mid-transaction), starts the write
under test in a second thread with its own connection, waits until PostgreSQL reports that
connection waiting on a lock (pg_stat_activity), commits the first and checks that both changes
survive. Without the lock the second writer reads the old figure and overwrites the first's change.
PostgreSQL only: SQLite serialises writers (one write transaction at a time), so there is no
interleaving to test there.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from backend.exchanges.base import Fill, OrderRequest, OrderSide
from backend.exchanges.paper import PaperConfig, PaperExchange
from backend.execution.ledger import Ledger
from backend.tests.execution.fakes import NOW, FakeMarket
from database.models.execution import LedgerBalance, PaperBalance, Position
from database.session import make_engine, make_session_factory

D = Decimal
WAIT_LIMIT_SECONDS = 20.0  # how long the test waits for PostgreSQL to report the lock wait


@pytest.fixture
def pg(database_url: str) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite runs one write transaction at a time, writers cannot interleave")
    engine = make_engine(database_url)
    yield engine, make_session_factory(engine)
    engine.dispose()


def _lock_waiters(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            or 0
        )


def _while_held(engine: Engine, hold: Callable[[Session], None], write: Callable[[], Any]) -> Any:
    """Run `write` in a thread while another session holds rows (`hold`), then commit the holder."""
    sessions = make_session_factory(engine)
    result: dict[str, Any] = {}
    with sessions.begin() as holder:
        hold(holder)
        thread = threading.Thread(target=lambda: result.setdefault("value", write()), daemon=True)
        thread.start()
        deadline = time.monotonic() + WAIT_LIMIT_SECONDS
        while _lock_waiters(engine) == 0:  # the second writer reached the held row
            assert thread.is_alive(), "the second writer finished without waiting for the held row"
            assert time.monotonic() < deadline, "the second writer never waited on the held row"
            time.sleep(0.01)
    thread.join(WAIT_LIMIT_SECONDS)
    assert not thread.is_alive()
    return result.get("value")


def test_two_writers_never_lose_a_ledger_cash_update(pg: tuple[Engine, sessionmaker[Session]]) -> None:
    engine, sessions = pg
    ledger = Ledger(sessions, exchange="paper", quote_asset="USDT", clock=lambda: NOW)
    ledger.seed(D(10000))

    def deposit(session: Session) -> None:  # the other writer: 500 more cash, not yet committed
        row = session.scalar(select(LedgerBalance).with_for_update())
        assert row is not None
        row.amount += D(500)
        row.contributed += D(500)
        session.flush()

    fill = Fill("t1", "ETHUSDT", OrderSide.BUY, D(3000), D(1), D(3), "USDT", datetime(2026, 11, 25, tzinfo=UTC))
    recorded = _while_held(engine, deposit, lambda: ledger.record_fills([fill], base_assets={"ETHUSDT": "ETH"}))
    assert len(recorded) == 1
    assert ledger.cash() == D(10000) + D(500) - D(3003)  # both changes kept
    assert ledger.positions()["ETHUSDT"].quantity == D(1)


def test_two_writers_never_lose_a_ledger_position_update(pg: tuple[Engine, sessionmaker[Session]]) -> None:
    engine, sessions = pg
    ledger = Ledger(sessions, exchange="paper", quote_asset="USDT", clock=lambda: NOW)
    ledger.seed(D(10000))
    t = datetime(2026, 11, 25, tzinfo=UTC)
    ledger.record_fills([Fill("t1", "ETHUSDT", OrderSide.BUY, D(3000), D(1), D(0), "USDT", t)], base_assets={})

    def adopt(session: Session) -> None:  # the other writer: 1 ETH more on the position, not yet committed
        row = session.scalar(select(Position).where(Position.symbol == "ETHUSDT").with_for_update())
        assert row is not None
        row.quantity += D(1)
        session.flush()

    second = Fill("t2", "ETHUSDT", OrderSide.BUY, D(3000), D(2), D(0), "USDT", t)
    _while_held(engine, adopt, lambda: ledger.record_fills([second], base_assets={}))
    assert ledger.positions()["ETHUSDT"].quantity == D(4)  # 1 + 1 adopted + 2 bought: nothing lost


def test_two_writers_never_lose_a_paper_balance_update(pg: tuple[Engine, sessionmaker[Session]]) -> None:
    engine, sessions = pg
    market = FakeMarket({"ETHUSDT": D(3000)})
    paper = PaperExchange(
        sessions, book=market.order_book, rules=market.symbol_rules, config=lambda: PaperConfig(), clock=lambda: NOW
    )
    paper.open_account()

    def deposit(session: Session) -> None:  # e.g. a CLI crediting the paper account, not yet committed
        session.execute(select(PaperBalance).where(PaperBalance.asset == "USDT").with_for_update()).one()
        session.execute(update(PaperBalance).where(PaperBalance.asset == "USDT").values(free=D(11000)))

    request = OrderRequest("ETHUSDT", OrderSide.BUY, D("0.5"), "qt-1-ETHUSDT-B")
    result = _while_held(engine, deposit, lambda: asyncio.run(paper.submit_order(request)))
    free = asyncio.run(paper.account()).balances["USDT"].free
    assert free == D(11000) - result.quote_quantity  # the deposit and the purchase both kept
