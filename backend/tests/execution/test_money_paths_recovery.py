"""Scenario tests of issue 12, recovery: lost answers, a failed ledger write and a failover cannot move money twice.

Defects 2 (a failed ledger write hid a loss from the guard), 3 (a timed-out order not found at
once), 4 (failover between save and send) and 7 (a reservation kept by an order never placed).
The price and limit defects (1, 5, 6) are in test_money_paths.py. Each runs the real ledger, risk
guard and paper exchange on a migrated database (SQLite, and PostgreSQL with QT_TEST_DATABASE_URL),
with a small adapter wrapper where a fault is injected.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from backend.exchanges.base import AccountSnapshot, Exchange, Fill, OrderRequest, OrderResult, OrderSide
from backend.exchanges.errors import UnknownOutcomeError
from backend.execution.ledger import Applied
from backend.tests.execution.fakes import NOW, Clock, FakeMarket
from backend.tests.execution.harness import Harness, build
from backend.tests.execution.test_service import DropsRequests, LosesAnswers
from config.risk import RiskSettings
from database.models.execution import PaperOrder

D = Decimal


def risk(**values: str) -> RiskSettings:
    return RiskSettings(_env_file=None, **values)  # type: ignore[call-arg]


async def test_d7_order_resolved_as_never_placed_releases_its_reservation(database_url: str, tmp_path: Path) -> None:
    """Defect 7: an order resolved as never placed kept its risk reservation for an hour."""
    market = FakeMarket({"ETHUSDT": D(3000)})
    clock = Clock(market=market)
    wrappers: list[DropsRequests] = []

    def wrap(inner: Exchange) -> Exchange:
        wrappers.append(DropsRequests(inner))
        return wrappers[0]

    limits = risk(QT_MAX_NOTIONAL_PER_TRADE="5000", QT_MAX_POSITION_PER_SYMBOL="5000")
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.4")}, risk=limits, wrap=wrap, clock=clock)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        clock.advance(600)  # past any grace window: the lookups say it was never placed
        await h.service.run_cycle()
        await h.service.run_cycle()
        snap = h.guard.snapshot()
        assert snap.pending_orders == 0
        held = h.service.ledger.positions()["ETHUSDT"].quantity
        assert held * D(3000) > D(3500), "the legitimate buy was refused by a phantom reservation"
        assert snap.exposure_by_symbol["ETHUSDT"] < D(5000)
    finally:
        h.close()


def guard_and_ledger_today(h: Harness) -> tuple[Decimal, Decimal]:
    now = h.service._clock()
    start = datetime.combine(now.date(), time.min, tzinfo=UTC)
    ledger = h.service.ledger.realised_pnl_between(start, start + timedelta(days=1))
    return h.guard.snapshot(now).realised_pnl_today, ledger


async def test_d2_failed_ledger_write_cannot_hide_a_loss_from_the_guard(database_url: str, tmp_path: Path) -> None:
    """Defect 2: the ledger hook failed, the guard kept PnL 0 for good, the loss limit was passed."""
    market = FakeMarket({"ETHUSDT": D(3000)})
    limits = risk(QT_MAX_NOTIONAL_PER_TRADE="10000", QT_MAX_DAILY_LOSS="200")
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.5")}, risk=limits)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        real_apply = h.service.ledger.apply
        failures = [1]

        def failing_apply(fills: list[Fill], **kwargs: object) -> Applied:
            if failures and any(f.side is OrderSide.SELL for f in fills):
                failures.pop()
                raise OperationalError("UPDATE positions", {}, Exception("disk I/O error"))
            return real_apply(fills, **kwargs)  # type: ignore[arg-type]

        h.service.ledger.apply = failing_apply  # type: ignore[method-assign]
        market.prices["ETHUSDT"] = D(2400)  # -20 %: selling the whole position loses about 1000
        h.weights = {}
        failed = await h.service.run_cycle()
        assert failed.status == "failed"
        await h.service.run_cycle()  # reconciles the sale the ledger missed
        guard_pnl, ledger_pnl = guard_and_ledger_today(h)
        assert ledger_pnl < D(-900)
        assert guard_pnl == ledger_pnl
        # the loss limit holds: a new buy is refused
        h.weights = {"ETHUSDT": D("0.5")}
        report = await h.service.run_cycle()
        assert report.submitted == 0
        assert "(daily_loss)" in report.skipped_orders[0]["reason"]
        # and after a restart (a new guard on the same store, start-up reconciliation)
        h2 = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.5")}, risk=limits)
        try:
            await h2.service.reconcile()
            guard_pnl, ledger_pnl = guard_and_ledger_today(h2)
            assert guard_pnl == ledger_pnl
            assert (await h2.service.run_cycle()).submitted == 0
        finally:
            h2.close()
    finally:
        h.close()


async def test_d2_restore_corrects_a_guard_record_from_the_ledger(database_url: str, tmp_path: Path) -> None:
    """The start-up restore re-derives the day from the ledger, also for ids the guard knows."""
    market = FakeMarket({"ETHUSDT": D(3000)})
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.5")})
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        market.prices["ETHUSDT"] = D(2700)
        h.weights = {}
        await h.service.run_cycle()
        [sale] = [r for r in h.store.trades_since(NOW - timedelta(days=1)) if r.side is OrderSide.SELL]
        h.store.upsert_trade(replace(sale, realised_pnl=D(0)))  # the guard's copy went wrong
        await h.service.reconcile()
        guard_pnl, ledger_pnl = guard_and_ledger_today(h)
        assert guard_pnl == ledger_pnl < 0
    finally:
        h.close()


class ExecutesLate(LosesAnswers):
    """The request times out; the first lookup finds nothing; a moment later the exchange executes it."""

    def __init__(self, inner: Exchange) -> None:
        super().__init__(inner)
        self.stalled: list[OrderRequest] = []
        self.lookups = 0

    async def _catch_up(self) -> None:
        while self.stalled:
            await self.inner.submit_order(self.stalled.pop(0))

    async def submit_order(self, request: OrderRequest) -> OrderResult:
        self.submits.append(request.client_order_id)
        if not self.stalled and len(self.submits) == 1:
            self.stalled.append(request)
            raise UnknownOutcomeError("read timed out")
        await self._catch_up()
        return await self.inner.submit_order(request)

    async def query_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        self.lookups += 1
        if self.lookups > 1:
            await self._catch_up()
        return await self.inner.query_order(symbol, client_order_id)

    async def account(self) -> AccountSnapshot:
        if self.lookups:
            await self._catch_up()
        return await self.inner.account()


async def test_d3_timed_out_order_not_found_at_once_stays_unknown(database_url: str, tmp_path: Path) -> None:
    """Defect 3: the first lookup said "does not exist", the order was failed, the next cycle bought
    again, and the first request executed a moment later: the position doubled."""
    market = FakeMarket({"ETHUSDT": D(3000)})
    clock = Clock(market=market)
    wrappers: list[ExecutesLate] = []

    def wrap(inner: Exchange) -> Exchange:
        wrappers.append(ExecutesLate(inner))
        return wrappers[0]

    limits = risk(QT_MAX_NOTIONAL_PER_TRADE="10000")
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.45")}, risk=limits, wrap=wrap, clock=clock)
    try:
        await h.service.reconcile()
        first = await h.service.run_cycle()
        assert first.unresolved == ["qt-2-ETHUSDT-B"]
        for _ in range(3):
            clock.advance(5)
            await h.service.run_cycle()
        account = await h.adapter.account()
        held = account.balances["ETH"].free
        assert wrappers[0].submits == ["qt-2-ETHUSDT-B"], "a second buy was sent while the first was unknown"
        assert held * D(3000) < D(4500) * D("1.02")
        # the late fill reached the ledger and the guard without a restart
        assert h.service.ledger.positions()["ETHUSDT"].quantity == held
        snap = h.guard.snapshot()
        assert (snap.trades_today, snap.pending_orders) == (1, 0)
    finally:
        h.close()


async def test_d4_failover_between_save_and_send_never_sends_twice(database_url: str, tmp_path: Path) -> None:
    """Defect 4: a new leader failed the old leader's saved-but-unsent orders and planned again,
    while the old leader, still alive, sent its saved orders: both filled."""
    market = FakeMarket({"BTCUSDT": D(50000)})
    limits = risk(QT_MAX_NOTIONAL_PER_TRADE="10000", QT_MAX_POSITION_PER_SYMBOL="6000")
    old = build(database_url, tmp_path, market, weights={"BTCUSDT": D("0.4")}, risk=limits, state_name="old.db")
    new = build(database_url, tmp_path, market, weights={"BTCUSDT": D("0.4")}, risk=limits, state_name="new.db")
    paused, resume = asyncio.Event(), asyncio.Event()

    async def stall(coid: str) -> None:  # the old leader stalls between save and send
        paused.set()
        await resume.wait()

    old.service._epoch, new.service._epoch = (lambda: 1), (lambda: 2)
    old.service._before_send = stall
    try:
        await old.service.reconcile()
        stalled = asyncio.create_task(old.service.run_cycle())
        await paused.wait()
        # the new leader takes over: its reconciliation looks the saved order up, then plans again
        await new.service.reconcile()
        taken_over = await new.service.run_cycle()
        assert taken_over.submitted == 1
        resume.set()
        old_report = await stalled
        assert old_report.submitted == 0
        assert "fenced" in (old_report.reason or "")
        with new.sessions() as session:
            sent = session.scalars(select(PaperOrder)).all()
        assert len(sent) == 1, [o.client_order_id for o in sent]
        held = (await new.adapter.account()).balances["BTC"].free
        assert held * D(50000) <= D(4000) * D("1.01")
        assert new.service.ledger.positions()["BTCUSDT"].quantity == held
    finally:
        resume.set()
        old.close()
        new.close()


async def test_d4_a_process_that_no_longer_leads_sends_nothing(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket({"BTCUSDT": D(50000)})
    h = build(database_url, tmp_path, market, weights={"BTCUSDT": D("0.4")})
    leads = [True]

    async def still_leads() -> bool:
        return leads[0]

    async def lose_lock(coid: str) -> None:
        leads[0] = False  # the lock connection died while the cycle was under way

    h.service._still_leads, h.service._before_send = still_leads, lose_lock
    try:
        await h.service.reconcile()
        report = await h.service.run_cycle()
        assert report.submitted == 0
        assert "no longer holds the leader lock" in (report.reason or "")
        assert await h.adapter.trades("BTCUSDT") == []
    finally:
        h.close()
