"""QT_EXECUTION_SLICE_NOTIONAL on the paper exchange: a large planned order saved as a WORKING
parent and sent as slices of about the slice notional, each its own client order id derived from
the parent and checked by the risk guard, spread over the window on the injected clock (the
resting-order check sends those due, nothing sleeps); the kill switch stops the rest."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from backend.amounts import decimal_text
from backend.execution.planner import PlanParams
from backend.execution.slicing import split
from backend.tests.execution.fakes import NOW, Clock, FakeMarket, rules_for
from backend.tests.execution.harness import Harness, build
from database.models.execution import Order

D = Decimal


def orders(h: Harness) -> list[Order]:
    with h.sessions() as session:
        return list(session.scalars(select(Order).order_by(Order.id)))


def test_slices_are_on_the_step_above_the_minimums_and_add_up() -> None:
    rules = rules_for("ETHUSDT", step="0.01", min_notional="50")
    assert split(D("1.23"), D(1000), D(500), rules) == [D("0.41"), D("0.41"), D("0.41")]
    assert split(D("1.00"), D(1000), D(300), rules) == [D("0.25"), D("0.25"), D("0.25"), D("0.25")]
    assert split(D("0.2"), D(1000), D(500), rules) == [D("0.2")]  # small enough: whole
    assert split(D("0.09"), D(1000), D(20), rules) == [D("0.09")]  # slices would be below NOTIONAL
    assert sum(split(D("1.07"), D(1000), D(250), rules)) == D("1.07")


def test_an_order_is_cut_into_at_most_a_thousand_slices_and_impossible_counts_are_skipped() -> None:
    # QT_EXECUTION_SLICE_NOTIONAL=0.000001 tried every count from ten billion down, one by one
    fine = rules_for("BTCUSDT", step="0.00001", min_notional="0")
    parts = split(D("1"), D(50000), D(10), fine)  # 5,000 slices of 10 asked
    assert len(parts) == 1000
    assert set(parts[:-1]) == {D("0.001")}
    assert sum(parts) == D("1")
    rules = rules_for("ETHUSDT", step="0.01", min_notional="50")
    tiny = split(D("10"), D(1000), D("0.000001"), rules)  # 10,000 quote: 200 slices of 50 at most
    assert len(tiny) == 200
    assert set(tiny) == {D("0.05")}


async def test_a_large_order_goes_out_in_slices_over_the_window(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket({"ETHUSDT": D(1000)})
    clock = Clock(NOW, market)
    params = PlanParams(
        cost_margin_bps=D(60), max_notional_per_trade=D(100000), slice_notional=D(1000), slice_window_seconds=600
    )
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.5")}, params=params, clock=clock)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        parent, first = orders(h)
        assert (parent.status, first.client_order_id) == ("WORKING", f"{parent.client_order_id}-s1")
        assert first.parent_client_order_id == parent.client_order_id
        assert first.status == "FILLED"
        n = len(split(parent.requested_quantity, parent.reference_price, D(1000), market.rules["ETHUSDT"]))
        assert n == 5  # about 4 950 USDT in slices of at most 1 000
        clock.advance(60)  # slice 2 is due 120 s in: nothing yet, and the planner leaves ETH alone
        report = await h.service.run_cycle()
        assert len(orders(h)) == 2
        assert any("still working on this symbol" in s["reason"] for s in report.skipped_orders)
        for k in range(2, n + 1):
            clock.advance(120)
            await h.service.tend_resting()
            assert len(orders(h)) == k + 1
        await h.service.tend_resting()
        parent, *slices = orders(h)
        total = decimal_text(parent.requested_quantity)
        assert (parent.status, parent.error_message) == (
            "SLICED",
            f"slices executed {total} of {total}",
        )
        assert [s.client_order_id for s in slices] == [f"{parent.client_order_id}-s{k}" for k in range(1, n + 1)]
        assert all(s.requested_quantity * D(1000) <= D(1000) for s in slices[:-1])
        assert sum(s.executed_quantity for s in slices) == parent.requested_quantity
        assert all(s.reference_price == parent.reference_price for s in slices)  # shortfall vs arrival
        # every slice was checked and recorded by the risk guard
        assert h.guard.snapshot().trades_today == n
        assert h.guard.snapshot().pending_orders == 0
    finally:
        h.close()


async def test_the_kill_switch_stops_the_remaining_slices(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket({"ETHUSDT": D(1000)})
    clock = Clock(NOW, market)
    params = PlanParams(
        cost_margin_bps=D(60), max_notional_per_trade=D(100000), slice_notional=D(1000), slice_window_seconds=600
    )
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.5")}, params=params, clock=clock)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        await h.guard.set_kill_switch(True, "operator stop", "test")
        clock.advance(300)
        await h.service.tend_resting()
        parent, first = orders(h)
        assert (parent.status, first.status) == ("CANCELED", "FILLED")
    finally:
        h.close()
