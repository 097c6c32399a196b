"""Start-up reconciliation (backend/execution/startup.py): the first start seeds the ledger from
the account, a restart re-derives the risk guard's executions from the ledger and adopts what the
exchange changed behind its back.

Real ledger, risk guard and paper exchange on a migrated database (SQLite, and PostgreSQL with
QT_TEST_DATABASE_URL); a restart is a second service on the same database with a new guard store.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from backend.exchanges.paper import PaperConfig
from backend.tests.execution.fakes import FakeMarket
from backend.tests.execution.harness import build
from database.models.execution import PaperBalance

D = Decimal


async def test_first_start_seeds_the_ledger_from_the_account(database_url: str, tmp_path: Path) -> None:
    h = build(database_url, tmp_path, FakeMarket({"ETHUSDT": D(3000)}), paper=PaperConfig(starting_cash=D(2500)))
    try:
        first = await h.service.reconcile()
        assert (first.error, first.seeded, first.differences) == (None, True, [])
        assert h.service.ledger.cash() == D(2500)
        again = await h.service.reconcile()
        assert (again.seeded, again.differences) == (False, [])
    finally:
        h.close()


async def test_restart_restores_the_guards_executions_from_the_ledger(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket({"ETHUSDT": D(3000), "BTCUSDT": D(50000)})
    weights = {"ETHUSDT": D("0.4"), "BTCUSDT": D("0.4")}
    before = build(database_url, tmp_path, market, weights=weights, state_name="before.db")
    try:
        await before.service.reconcile()
        report = await before.service.run_cycle()
        assert report.submitted == 2
        traded = before.guard.snapshot().trades_today
    finally:
        before.close()
    after = build(database_url, tmp_path, market, weights=weights, state_name="after.db")  # a new guard store
    try:
        assert after.guard.snapshot().trades_today == 0
        restored = await after.service.reconcile()
        assert restored.error is None
        assert restored.risk_records_restored == traded == 2
        assert after.guard.snapshot().trades_today == 2
        assert restored.differences == []
    finally:
        after.close()


async def test_restart_adopts_and_reports_a_deposit_made_while_it_was_down(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket({"ETHUSDT": D(3000)})
    h = build(database_url, tmp_path, market, paper=PaperConfig(starting_cash=D(2500)))
    try:
        await h.service.reconcile()
        with h.sessions.begin() as session:
            row = session.query(PaperBalance).filter_by(asset="USDT").one()
            row.free += D(500)
        report = await h.service.reconcile()
        assert report.differences == [{"asset": "USDT", "ledger": "2500", "exchange": "3000"}]
        assert h.service.ledger.cash() == D(3000)
        assert h.service.ledger.contributed() == D(3000)
    finally:
        h.close()
