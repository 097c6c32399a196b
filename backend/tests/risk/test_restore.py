"""Restoring executions the guard missed (a crash between the ledger and the guard) from the ledger."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from backend.exchanges.base import OrderSide
from backend.risk.models import TradeRecord
from backend.tests.risk.conftest import HarnessFactory


def _record(coid: str, when: datetime, pnl: str = "-10") -> TradeRecord:
    return TradeRecord(coid, "BTCUSDT", OrderSide.SELL, Decimal("0.01"), Decimal("500"), Decimal(pnl), when)


def test_missing_executions_are_restored_once_and_count_toward_the_day(make_harness: HarnessFactory) -> None:
    harness = make_harness()
    guard, now = harness.guard, harness.clock()
    assert guard.record_fill_sync(_record("qt-1-BTCUSDT-S", now))
    restored = guard.restore_trades_sync([_record("qt-1-BTCUSDT-S", now), _record("qt-2-BTCUSDT-S", now)])
    assert restored == 1  # the known one is left alone
    assert guard.restore_trades_sync([_record("qt-2-BTCUSDT-S", now)]) == 0
    snapshot = guard.snapshot(now)
    assert snapshot.trades_today == 2
    assert snapshot.realised_pnl_today == Decimal("-20")
    # and it survives a restart, as every record does
    assert harness.restart().snapshot(now).trades_today == 2


def test_executions_before_the_newest_reset_stay_cleared(make_harness: HarnessFactory) -> None:
    harness = make_harness()
    guard, now = harness.guard, harness.clock()
    before = _record("qt-1-BTCUSDT-S", now - timedelta(minutes=5))
    assert guard.record_fill_sync(before)
    guard.reset_sync()
    after = _record("qt-2-BTCUSDT-S", now + timedelta(minutes=5))
    assert guard.restore_trades_sync([before, after]) == 1
    assert guard.snapshot(now + timedelta(minutes=6)).trades_today == 1
