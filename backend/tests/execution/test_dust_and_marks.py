"""Dust judged against the exchange's minimums; portfolio marks: the high-water mark, drawdown,
thinning by step; the cycle's run record naming dust as dust (real database, both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from backend.execution.dust import dust_reason
from backend.execution.marks import MAX_POINTS, PortfolioMarks, StepError, parse_step
from backend.execution.runs import RunsReader, skipped_of
from backend.scheduler.jobs.execution import rebalance
from backend.scheduler.jobs.portfolio import mark_portfolio
from backend.scheduler.runner import RunStatus
from backend.tests.execution.fakes import NOW, FakeMarket, rules_for
from backend.tests.execution.harness import Harness, build

D = Decimal


def test_dust_is_judged_against_the_exchange_minimums_not_ours() -> None:
    rules = rules_for("BTCUSDT", step="0.001", min_qty="0.001", min_notional="5")
    assert dust_reason(rules, D("0.0004"), D(50000)) == "quantity 0.0004 is below the step size 0.001"
    assert dust_reason(rules, D("0.001"), D(50000)) is None  # 50 USDT: small, but the exchange takes it
    assert dust_reason(rules, D("0.001"), D(1000)) == "value 1.00 is below the exchange minimum notional 5"
    assert dust_reason(rules, D(0), D(50000)) is None
    lot = rules_for("ETHUSDT", step="0.001", min_qty="0.01")
    assert dust_reason(lot, D("0.005"), D(3000)) == "quantity 0.005 is below the exchange minimum 0.01"


def test_step_parsing_refuses_what_it_cannot_read() -> None:
    assert [parse_step(s) for s in ("90s", "15m", "1h", "2d")] == [90, 900, 3600, 172_800]
    for bad in ("0h", "1w", "h", "1.5h", ""):
        with pytest.raises(StepError):
            parse_step(bad)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    h = build(
        database_url,
        tmp_path,
        FakeMarket({"BTCUSDT": D(50000), "ETHUSDT": D(3000)}),
        weights={"BTCUSDT": D("0.5"), "ETHUSDT": D("0.5")},
    )
    yield h
    h.close()


def _record(marks: PortfolioMarks, equity: str) -> None:
    z = D(0)
    marks.record(
        equity=D(equity),
        cash=D(equity),
        gross_exposure=z,
        realised_pnl=z,
        unrealised_pnl=z,
        fees_paid=z,
        contributed=D(100),
        source="cycle",
    )


def test_marks_keep_the_high_water_mark_and_the_drawdown_from_it(harness: Harness) -> None:
    clock = Clock()
    marks = PortfolioMarks(harness.sessions, exchange="paper", clock=clock)
    for minute, equity in enumerate(["100", "120", "90", "130", "117"]):
        clock.now = NOW + timedelta(minutes=minute)
        _record(marks, equity)
    history = marks.history(since=None, until=NOW + timedelta(hours=1), step_seconds=None)
    assert [p.high_water for p in history.points] == [D(100), D(120), D(120), D(130), D(130)]
    assert [p.drawdown for p in history.points] == [D(0), D(0), D("-0.25"), D(0), D("-0.1")]
    assert history.max_drawdown == D("-0.25")
    # a window after the high keeps the high water from before it
    later = marks.history(since=NOW + timedelta(minutes=4), until=None, step_seconds=None)
    assert [(p.equity, p.drawdown) for p in later.points] == [(D(117), D("-0.1"))]
    # thinned: the last mark of each 2-minute bucket; the deepest drawdown still counts every mark
    thinned = marks.history(since=NOW, until=NOW + timedelta(hours=1), step_seconds=120)
    assert [p.equity for p in thinned.points] == [D(120), D(130), D(117)]
    assert (thinned.marks_in_range, thinned.max_drawdown) == (5, D("-0.25"))


def test_too_many_points_pick_a_step_or_are_refused(harness: Harness) -> None:
    clock = Clock()
    marks = PortfolioMarks(harness.sessions, exchange="paper", clock=clock)
    for second in range(0, 202, 2):  # 101 marks, two seconds apart, over 200 s
        clock.now = NOW + timedelta(seconds=second)
        _record(marks, "100")
    auto = marks.history(since=None, until=None, step_seconds=None, max_points=100)
    assert auto.marks_in_range == 101
    assert auto.step_seconds == 60
    assert len(auto.points) == 4
    assert len(marks.history(since=None, until=None, step_seconds=None).points) == 101 <= MAX_POINTS
    with pytest.raises(StepError, match="ask for a longer step"):
        marks.history(since=None, until=None, step_seconds=1, max_points=100)


async def test_cycle_and_hourly_job_record_marks_and_the_run_names_dust(harness: Harness) -> None:
    marks = PortfolioMarks(harness.sessions, exchange="paper", clock=lambda: NOW)
    assert (await mark_portfolio(harness.service, marks)).status is RunStatus.SKIPPED  # ledger not seeded
    assert marks.count() == 0
    await harness.service.reconcile()
    first = await rebalance(harness.service, marks)
    assert first.status is RunStatus.OK
    assert first.details["orders_submitted"] == 2
    # BTC's exchange minimum rises above the holding, and BTC leaves the selection: its exit is dust
    harness.market.rules["BTCUSDT"] = rules_for("BTCUSDT", min_notional="10000000")
    harness.weights = {"ETHUSDT": D(1)}
    second = await rebalance(harness.service, marks)
    hourly = await mark_portfolio(harness.service, marks)
    assert hourly.status is RunStatus.OK
    assert marks.count() == 3
    points = marks.history(since=None, until=NOW + timedelta(seconds=1), step_seconds=None).points
    assert [p.source for p in points] == ["cycle", "cycle", "hourly"]
    assert points[1].run_id == second.details["last_run_id"]
    portfolio = await harness.service.portfolio(refresh=False)
    assert points[-1].equity == portfolio.equity
    assert points[-1].cash == portfolio.cash

    reader = RunsReader(harness.sessions, exchange="paper")
    detail = reader.detail(second.details["last_run_id"])
    assert detail is not None
    assert [d["symbol"] for d in detail.run.details["dust"]] == ["BTCUSDT"]
    # shown as dust, not planned: no sell of it is drafted (and skipped) cycle after cycle
    assert [s for s in skipped_of(detail.run.details) if s.symbol == "BTCUSDT"] == []
    assert [o.symbol for o in detail.orders if o.symbol == "BTCUSDT"] == []
    assert harness.service.dust_of("BTCUSDT", harness.service.ledger.positions()["BTCUSDT"].quantity, D(50000))


async def test_a_cycle_writes_the_marks_that_moved_as_the_positions_last_prices(harness: Harness) -> None:
    """The positions' last prices value a holding the market no longer marks (valuation.py): every
    cycle writes the marks that moved since the positions it read, and leaves the others alone."""
    await harness.service.reconcile()
    await harness.service.run_cycle()
    last = {s: p.last_price for s, p in harness.service.ledger.positions().items()}
    assert last == {"BTCUSDT": D(50000), "ETHUSDT": D(3000)}
    harness.market.prices["BTCUSDT"] = D(51000)
    writes: list[dict[str, Decimal]] = []
    set_marks = harness.service.ledger.set_marks

    def recording(marks: dict[str, Decimal]) -> None:
        writes.append(dict(marks))
        set_marks(marks)

    harness.service.ledger.set_marks = recording  # type: ignore[method-assign]
    await harness.service.run_cycle()
    assert writes == [{"BTCUSDT": D(51000)}]  # ETH's mark did not move: not written again
    last = {s: p.last_price for s, p in harness.service.ledger.positions().items()}
    assert last == {"BTCUSDT": D(51000), "ETHUSDT": D(3000)}
    await harness.service.run_cycle()
    assert writes == [{"BTCUSDT": D(51000)}]  # nothing moved: nothing written
