"""Reconciliation (backend/execution/reconcile.py): lookups on a backoff, the unknown-outcome grace
window, fencing of a saved order, and a late fill reaching the ledger and the guard.

Real ledger, risk guard and paper exchange on a migrated database (SQLite, and PostgreSQL with
QT_TEST_DATABASE_URL); orders are saved straight into the ledger so each step is driven alone.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from backend.exchanges.base import OrderRequest, OrderSide
from backend.execution.ledger import FAILED, PENDING, SENDING
from backend.execution.reconcile import MAX_BACKOFF_SECONDS, backoff
from backend.tests.execution.fakes import Clock, FakeMarket
from backend.tests.execution.harness import Harness, build

D = Decimal
COID = "qt-9-ETHUSDT-B"


@pytest.mark.parametrize(
    ("lookups", "seconds"),
    [(0, 1), (1, 2), (2, 4), (4, 16), (5, MAX_BACKOFF_SECONDS), (50, MAX_BACKOFF_SECONDS)],
)
def test_backoff_doubles_up_to_the_cap(lookups: int, seconds: float) -> None:
    assert backoff(lookups) == timedelta(seconds=seconds)


async def _harness(database_url: str, tmp_path: Path, clock: Clock, market: FakeMarket) -> Harness:
    h = build(database_url, tmp_path, market, weights=None, clock=clock)
    await h.service.reconcile()
    return h


def _save(h: Harness, epoch: int | None, quantity: str = "0.5") -> None:
    h.service.ledger.save_orders(
        None,
        [{"client_order_id": COID, "symbol": "ETHUSDT", "side": "BUY", "quantity": D(quantity), "leader_epoch": epoch}],
    )


def _status(h: Harness) -> str:
    return next(o.status for o in h.service.ledger.history(symbol=None, since=None, until=None, limit=9, offset=0)[0])


async def test_saved_order_not_found_is_failed_and_its_leader_is_fenced_out(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket({"ETHUSDT": D(3000)})
    clock = Clock(market=market)
    h = await _harness(database_url, tmp_path, clock, market)
    try:
        _save(h, epoch=1)
        resolved, unresolved = await h.service.reconciler.resolve_open(h.service.ledger.open_orders())
        assert (resolved, unresolved) == ([{"client_order_id": COID, "status": FAILED}], [])
        # the old leader (epoch 1), still alive, comes to send it: the claim fails
        h.service._epoch = lambda: 1
        reason = await h.service.reconciler.fence(COID, None)
        assert reason is not None
        assert "resolved by another leader" in reason
        assert _status(h) == FAILED
    finally:
        h.close()


async def test_a_saved_order_is_claimed_once_and_only_by_its_own_epoch(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket({"ETHUSDT": D(3000)})
    clock = Clock(market=market)
    h = await _harness(database_url, tmp_path, clock, market)
    try:
        _save(h, epoch=1)
        h.service._epoch = lambda: 2
        assert "resolved by another leader" in (await h.service.reconciler.fence(COID, None) or "")
        assert _status(h) == PENDING
        h.service._epoch = lambda: 1
        assert await h.service.reconciler.fence(COID, D("1500")) is None
        assert _status(h) == SENDING
        assert await h.service.reconciler.fence(COID, D("1500")) is not None  # never twice
    finally:
        h.close()


async def test_unknown_order_stays_unknown_through_the_grace_window_then_fails(
    database_url: str, tmp_path: Path
) -> None:
    market = FakeMarket({"ETHUSDT": D(3000)})
    clock = Clock(market=market)
    h = await _harness(database_url, tmp_path, clock, market)
    rec = h.service.reconciler
    try:
        _save(h, epoch=None)
        assert h.service.ledger.claim_for_sending(COID, None)  # sent; the answer was lost
        assert await rec.resolve_open(h.service.ledger.open_orders()) == ([], [COID])
        first = h.service.ledger.open_orders()[0]
        assert (first.lookups, first.next_lookup_at) == (1, clock.now + backoff(0))
        # not due yet: no lookup is spent
        assert await rec.resolve_open(h.service.ledger.open_orders()) == ([], [COID])
        assert h.service.ledger.open_orders()[0].lookups == 1
        clock.advance(100)  # due, still inside the 120 s grace window
        assert await rec.resolve_open(h.service.ledger.open_orders()) == ([], [COID])
        assert h.service.ledger.open_orders()[0].lookups == 2
        clock.advance(30)  # past the window: the account's orders are searched, then it fails
        resolved, unresolved = await rec.resolve_open(h.service.ledger.open_orders())
        assert (resolved, unresolved) == ([{"client_order_id": COID, "status": FAILED}], [])
        assert h.service.ledger.open_orders() == []
        assert h.guard.snapshot().pending_orders == 0
    finally:
        h.close()


async def test_late_fill_found_by_lookup_reaches_the_ledger_and_the_guard(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket({"ETHUSDT": D(3000)})
    clock = Clock(market=market)
    h = await _harness(database_url, tmp_path, clock, market)
    try:
        _save(h, epoch=None)
        assert h.service.ledger.claim_for_sending(COID, None)
        assert await h.service.reconciler.resolve_open(h.service.ledger.open_orders()) == ([], [COID])
        # the exchange executes the request that timed out, a moment later
        await h.adapter.submit_order(OrderRequest("ETHUSDT", OrderSide.BUY, D("0.5"), COID))
        clock.advance(5)
        resolved, unresolved = await h.service.reconciler.resolve_open(h.service.ledger.open_orders())
        assert unresolved == []
        assert resolved[0]["status"] == "FILLED"
        assert resolved[0]["fills_recorded"] >= 1
        held = (await h.adapter.account()).balances["ETH"].free
        assert D("0.49") < held <= D("0.5")  # less the fee, paid in the base asset
        assert h.service.ledger.positions()["ETHUSDT"].quantity == held
        snap = h.guard.snapshot()
        assert (snap.trades_today, snap.pending_orders) == (1, 0)
    finally:
        h.close()
