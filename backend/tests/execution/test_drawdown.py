"""The equity drawdown halt from the portfolio marks (real database, both backends): the window's
high-water mark, and a rebalance whose mark shows the breach halting the next cycle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from backend.execution.drawdown import read_drawdown
from backend.execution.marks import PortfolioMarks
from backend.risk.guard import DRAWDOWN_HALT_REASON
from backend.scheduler.jobs.execution import rebalance
from backend.scheduler.runner import RunStatus
from backend.tests.execution.fakes import NOW, FakeMarket
from backend.tests.execution.harness import Harness, build
from config.risk import RiskSettings

D = Decimal


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def harness(database_url: str, tmp_path: Path, clock: Clock) -> Iterator[Harness]:
    risk = RiskSettings(  # type: ignore[call-arg]
        _env_file=None, QT_MAX_NOTIONAL_PER_TRADE="100000", QT_MAX_DRAWDOWN_PCT="10", QT_DRAWDOWN_WINDOW_DAYS="7"
    )
    h = build(
        database_url,
        tmp_path,
        FakeMarket({"BTCUSDT": D(50000), "ETHUSDT": D(3000)}),
        weights={"BTCUSDT": D("0.5"), "ETHUSDT": D("0.5")},
        risk=risk,
        clock=clock,
    )
    yield h
    h.close()


def _mark(marks: PortfolioMarks, equity: str) -> None:
    z = D(0)
    marks.record(
        equity=D(equity),
        cash=D(equity),
        gross_exposure=z,
        realised_pnl=z,
        unrealised_pnl=z,
        fees_paid=z,
        contributed=D(100),
        source="hourly",
    )


def test_the_high_water_mark_is_the_highest_equity_inside_the_window(harness: Harness, clock: Clock) -> None:
    marks = PortfolioMarks(harness.sessions, exchange="paper", clock=clock)
    assert read_drawdown(marks, now=NOW, window_days=7) is None
    # equity as text sorts "9000" above "12000": the highest is found by value
    for days, equity in [(0, "20000"), (10, "9000"), (11, "12000"), (12, "10200")]:
        clock.now = NOW + timedelta(days=days)
        _mark(marks, equity)
    reading = read_drawdown(marks, now=clock.now, window_days=7)
    assert reading is not None
    # the 20000 of day 0 is outside the 7-day window
    assert (reading.high_water, reading.high_water_at, reading.equity) == (D(12000), NOW + timedelta(days=11), D(10200))
    assert reading.drawdown_pct == D("15.0000")
    wide = read_drawdown(marks, now=clock.now, window_days=30)
    assert wide is not None
    assert wide.drawdown_pct == D("49.0000")


async def test_a_fall_in_marked_equity_halts_trading_with_its_reason(harness: Harness, clock: Clock) -> None:
    marks = PortfolioMarks(harness.sessions, exchange="paper", clock=clock)
    await harness.service.reconcile()
    first = await rebalance(harness.service, marks)
    assert first.status is RunStatus.OK
    assert not harness.guard.kill_switch_enabled()
    # both holdings fall 30 %: equity, almost all invested, falls well over 10 % below its high
    clock.now += timedelta(minutes=5)
    harness.market.now = clock.now
    harness.market.prices = {"BTCUSDT": D(35000), "ETHUSDT": D(2100)}
    second = await rebalance(harness.service, marks)
    assert second.status is not RunStatus.FAILED
    state = harness.guard.kill_switch_state()
    assert state.enabled
    assert state.reason == DRAWDOWN_HALT_REASON
    snapshot = harness.guard.snapshot()
    assert snapshot.drawdown is not None
    assert snapshot.drawdown.drawdown_pct > 10
    clock.now += timedelta(minutes=5)
    harness.market.now = clock.now
    third = await rebalance(harness.service, marks)
    assert third.status is RunStatus.DEGRADED
    assert "kill switch on: auto: equity drawdown" in third.errors["cycle"]
