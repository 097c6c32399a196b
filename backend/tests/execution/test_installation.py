"""Client order ids unique across deployments on one account: the per-installation prefix kept in
the database (backend/execution/installation.py). Real database (SQLite, and PostgreSQL with
QT_TEST_DATABASE_URL), the real ledger, risk guard and paper exchange.
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from pathlib import Path

from sqlalchemy import delete, text

from backend.exchanges.base import OrderSide
from backend.execution.installation import DEFAULT_PREFIX, installation_prefix, read_prefix
from backend.execution.planner import client_order_id
from backend.tests.execution.fakes import NOW, FakeMarket
from backend.tests.execution.harness import build
from database.base import Base
from database.session import make_engine, make_session_factory

D = Decimal
BINANCE_CLIENT_ID = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")  # newClientOrderId


def _reset(url: str) -> None:
    """What an operator's reset does: every table emptied and id counters back to 1 (the schema
    stays at head), so the run ids, and without the prefix the client order ids, start again."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in reversed(Base.metadata.sorted_tables):
                    conn.execute(delete(table))
    finally:
        engine.dispose()


async def _ids_of_a_deployment(url: str, tmp_path: Path, name: str) -> tuple[str, list[str]]:
    market = FakeMarket({"BTCUSDT": D(50000), "ETHUSDT": D(3000)})
    h = build(url, tmp_path, market, weights={"BTCUSDT": D("0.4"), "ETHUSDT": D("0.4")}, state_name=f"{name}.db")
    h.service._installation = functools.partial(installation_prefix, h.sessions, clock=lambda: NOW)
    try:
        await h.service.reconcile()  # reads the prefix (drawn on first use) before anything is sent
        prefix = h.service.id_prefix
        assert prefix != DEFAULT_PREFIX
        for weights in ({"BTCUSDT": D("0.4"), "ETHUSDT": D("0.4")}, {"ETHUSDT": D("0.9")}):
            h.weights = weights
            assert (await h.service.run_cycle()).submitted > 0
        return prefix, h.service.ledger.client_order_ids()
    finally:
        h.close()


async def test_a_reset_database_never_reuses_a_client_order_id(database_url: str, tmp_path: Path) -> None:
    first_prefix, first = await _ids_of_a_deployment(database_url, tmp_path, "first")
    _reset(database_url)  # run ids start at 1 again: only the prefix tells the ids apart
    second_prefix, second = await _ids_of_a_deployment(database_url, tmp_path, "second")
    assert first_prefix != second_prefix
    assert first
    assert second
    assert set(first).isdisjoint(second), set(first) & set(second)
    # the same runs, symbols and sides: without the prefix these would be the very same ids
    assert {c.removeprefix(first_prefix) for c in first} == {c.removeprefix(second_prefix) for c in second}
    for coid in first + second:
        assert BINANCE_CLIENT_ID.match(coid), coid
    assert all(c.startswith(first_prefix + "-") for c in first)
    assert all(c.startswith(second_prefix + "-") for c in second)


def test_the_prefix_is_drawn_once_and_kept_with_the_database(database_url: str) -> None:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        assert read_prefix(sessions) is None
        prefix = installation_prefix(sessions, clock=lambda: NOW)
        assert re.fullmatch(r"qt[a-z0-9]{6}", prefix)
        assert installation_prefix(sessions, clock=lambda: NOW) == prefix  # a restart keeps it
        assert read_prefix(sessions) == prefix
    finally:
        engine.dispose()


def test_every_client_order_id_fits_binance_whatever_its_length() -> None:
    prefix = "qtabc123"
    for cycle, symbol in [("1", "BTCUSDT"), ("4294967295", "1000SATSFDUSD"), ("9" * 30, "X" * 20)]:
        for side in OrderSide:
            coid = client_order_id(cycle, symbol, side, prefix)
            assert BINANCE_CLIENT_ID.match(coid), coid
            assert coid.startswith(prefix + "-")
    assert client_order_id("2", "ETHUSDT", OrderSide.BUY) == f"{DEFAULT_PREFIX}-2-ETHUSDT-B"
