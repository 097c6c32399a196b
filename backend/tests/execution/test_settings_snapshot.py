"""One settings snapshot per cycle: an operator's PUT /settings that lands between two orders of a
cycle applies from the next cycle, so the plan, the order type saved in the ledger and the order
sent agree (no LIMIT_MAKER resting under a MARKET row that nothing ever times out)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from backend.execution.planner import PlanParams
from backend.execution.service import ExecutionService
from backend.tests.execution.fakes import NOW, Clock, FakeMarket
from backend.tests.execution.harness import build
from database.models.execution import Order, PaperOrder

D = Decimal


async def test_an_order_style_changed_mid_cycle_applies_from_the_next_cycle(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket({"ETHUSDT": D(1000), "BTCUSDT": D(50000)}, spread_bps=D(2), depth=D(2))
    clock = Clock(NOW, market)
    market_style = PlanParams(cost_margin_bps=D(60), max_notional_per_trade=D(100000))
    maker_style = replace(market_style, order_style="maker_first", maker_timeout_seconds=60.0)
    h = build(
        database_url,
        tmp_path,
        market,
        weights={"ETHUSDT": D("0.6"), "BTCUSDT": D("0.3")},
        params=market_style,
        clock=clock,
    )
    settings = {"current": market_style}  # what PUT /settings swaps (the app reads settings.current)

    async def operator_changes_the_style(client_order_id: str) -> None:  # lands between save and send
        settings["current"] = maker_style

    s = h.service
    h.service = ExecutionService(
        ledger=s.ledger,
        exchange=s.exchange,
        snapshot=market.snapshot,
        selection=lambda: h.weights,
        params=lambda: settings["current"],
        metrics=h.metrics,
        trades_log=s._log,
        clock=clock,
        before_send=operator_changes_the_style,
    )
    try:
        await h.service.reconcile()
        first = await h.service.run_cycle()
        assert first.submitted == 2
        with h.sessions() as session:
            saved = {o.client_order_id: o.order_type for o in session.scalars(select(Order))}
            sent = {o.client_order_id: o.order_type for o in session.scalars(select(PaperOrder))}
        # both orders of the first cycle: planned, saved and sent in the style the cycle started with
        assert saved == sent == {"qt-2-ETHUSDT-B": "MARKET", "qt-2-BTCUSDT-B": "MARKET"}

        h.service._before_send = None
        h.weights = {"ETHUSDT": D("0.3"), "BTCUSDT": D("0.6")}
        clock.advance(120)
        second = await h.service.run_cycle()  # the new style from here on
        assert second.submitted == 2, second
        with h.sessions() as session:
            rows = list(session.scalars(select(Order).where(Order.run_id == second.run_id)))
            paper = {o.client_order_id: o for o in session.scalars(select(PaperOrder))}
        assert rows, second
        for row in rows:
            assert row.order_type == paper[row.client_order_id].order_type == "LIMIT_MAKER"
        with h.sessions() as session:  # nothing open on the exchange that the ledger does not tend
            open_on_paper = {o.client_order_id for o in session.scalars(select(PaperOrder)) if o.status == "NEW"}
            resting = {o.client_order_id for o in session.scalars(select(Order)) if o.order_type == "LIMIT_MAKER"}
        assert open_on_paper <= resting
    finally:
        h.close()
