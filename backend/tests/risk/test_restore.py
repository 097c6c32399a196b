"""Restoring executions the guard missed (a crash between the ledger and the guard) from the ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from backend.exchanges.base import OrderSide
from backend.risk.models import TradeRecord
from backend.tests.risk.conftest import Clock, HarnessFactory

# On PostgreSQL the risk tests share one state database: these tests use their own far-future days
# (so other tests' resets never fall after their records) and unique order ids.
RESTORE_DAY = datetime(2099, 6, 1, 12, 0, tzinfo=UTC)
RESET_DAY = datetime(2098, 6, 1, 12, 0, tzinfo=UTC)


def _coid(n: int) -> str:
    return f"qt-{n}-{uuid.uuid4().hex[:8]}-S"


def _record(coid: str, when, pnl: str = "-10") -> TradeRecord:  # type: ignore[no-untyped-def]
    return TradeRecord(coid, "BTCUSDT", OrderSide.SELL, Decimal("0.01"), Decimal("500"), Decimal(pnl), when)


def test_missing_executions_are_restored_once_and_count_toward_the_day(make_harness: HarnessFactory) -> None:
    harness = make_harness(clock=Clock(RESTORE_DAY))
    guard, now = harness.guard, harness.clock()
    first, second = _coid(1), _coid(2)
    assert guard.record_fill_sync(_record(first, now))
    restored = guard.restore_trades_sync([_record(first, now), _record(second, now)])
    assert restored == 1  # the known one is left alone
    assert guard.restore_trades_sync([_record(second, now)]) == 0
    snapshot = guard.snapshot(now)
    assert snapshot.trades_today == 2
    assert snapshot.realised_pnl_today == Decimal("-20")
    # and it survives a restart, as every record does
    assert harness.restart().snapshot(now).trades_today == 2


def test_executions_before_the_newest_reset_stay_cleared(make_harness: HarnessFactory) -> None:
    harness = make_harness(clock=Clock(RESET_DAY))
    guard, now = harness.guard, harness.clock()
    before = _record(_coid(1), now - timedelta(minutes=5))
    assert guard.record_fill_sync(before)
    guard.reset_sync()
    after = _record(_coid(2), now + timedelta(minutes=5))
    assert guard.restore_trades_sync([before, after]) == 1
    assert guard.snapshot(now + timedelta(minutes=6)).trades_today == 1
