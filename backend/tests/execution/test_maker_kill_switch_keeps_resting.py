"""QT_KILL_SWITCH_CANCELS_OPEN=false: while the kill switch is on a resting maker order stays on the
book — no timeout cancel, no re-price, no taker finish — and still fills; once the switch is off the
next check tends it as usual."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from backend.execution.planner import PlanParams
from backend.tests.execution.fakes import NOW, Clock, FakeMarket
from backend.tests.execution.harness import Harness, build
from database.models.execution import Order, PaperOrder

D = Decimal


def setup(database_url: str, tmp_path: Path) -> tuple[Harness, FakeMarket, Clock]:
    # bid 999.90 / ask 1000.10, levels 0.50 apart with 2 ETH each (a small dip fills in part)
    market = FakeMarket({"ETHUSDT": D(1000)}, spread_bps=D(2), depth=D(2))
    clock = Clock(NOW, market)
    p = PlanParams(
        cost_margin_bps=D(60),
        max_notional_per_trade=D(100000),
        order_style="maker_first",
        maker_timeout_seconds=60.0,
        maker_reprices=1,
    )
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.5")}, params=p, clock=clock)
    h.service.cancels_open = lambda: False  # QT_KILL_SWITCH_CANCELS_OPEN=false
    return h, market, clock


def statuses(h: Harness) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    with h.sessions() as session:
        ledger = [(o.client_order_id, o.status) for o in session.scalars(select(Order).order_by(Order.id))]
        paper = [(o.client_order_id, o.status) for o in session.scalars(select(PaperOrder).order_by(PaperOrder.id))]
    return ledger, paper


async def test_with_cancels_open_off_a_maker_order_past_its_60_s_timeout_stays_resting_while_halted(
    database_url: str, tmp_path: Path
) -> None:
    h, _market, clock = setup(database_url, tmp_path)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        (maker,), _ = statuses(h)
        coid = maker[0]
        held = h.guard.snapshot().turnover_pending
        assert held > 0
        await h.guard.set_kill_switch(True, "operator stop", "test")
        clock.advance(61)  # past the 60 s timeout
        busy = await h.service.tend_resting()
        assert busy == {"ETHUSDT": coid}
        assert statuses(h) == ([(coid, "NEW")], [(coid, "NEW")])  # not cancelled, no -t child
        report = await h.service.run_cycle()  # a cycle while halted: the same
        assert report.status == "halted"
        assert statuses(h) == ([(coid, "NEW")], [(coid, "NEW")])
        assert h.guard.snapshot().turnover_pending == held  # still reserved: it may still fill
    finally:
        h.close()


async def test_with_cancels_open_off_a_halted_maker_order_is_not_repriced_and_still_fills(
    database_url: str, tmp_path: Path
) -> None:
    h, market, clock = setup(database_url, tmp_path)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        (maker,), _ = statuses(h)
        coid = maker[0]
        await h.guard.set_kill_switch(True, "operator stop", "test")
        market.prices["ETHUSDT"] = D("1000.50")  # the bid (1000.40) leaves the 999.90 buy behind
        clock.advance(10)
        await h.service.tend_resting()
        assert statuses(h) == ([(coid, "NEW")], [(coid, "NEW")])  # no re-price (-m1)
        market.prices["ETHUSDT"] = D("999.70")  # a dip through the bid: 2 ETH fill at 999.90
        clock.advance(10)
        await h.service.tend_resting()
        with h.sessions() as session:
            order = session.scalars(select(Order)).one()
        assert (order.status, order.executed_quantity) == ("PARTIALLY_FILLED", D(2))
        assert h.service.ledger.positions()["ETHUSDT"].quantity > 0  # the fill is recorded
        # the switch off: the next check tends it again, past the timeout it is finished with limit_ioc
        await h.guard.set_kill_switch(False, "resume", "test")
        clock.advance(60)
        await h.service.tend_resting()
        ledger, _ = statuses(h)
        assert ledger == [(coid, "CANCELED"), (f"{coid}-t", "FILLED")]
    finally:
        h.close()
