"""The risk guard measures the position and gross-exposure limits on the ledger's holdings from the
first order after a restart: a slice sent by the resting-order check, or at the start of the first
cycle, is refused exactly as it would have been without the restart (QT_EXECUTION_SLICE_NOTIONAL on
the paper exchange, QT_MAX_POSITION_PER_SYMBOL=1000)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.execution.planner import PlanParams
from backend.tests.execution.fakes import NOW, Clock, FakeMarket
from backend.tests.execution.harness import Harness, build
from config.risk import RiskSettings
from database.models.execution import Order

D = Decimal


@pytest.mark.parametrize("after", ["no restart", "restart, then the resting check", "restart, then a cycle"])
async def test_a_slice_that_would_exceed_the_position_limit_is_refused_after_a_restart_too(
    database_url: str, tmp_path: Path, after: str
) -> None:
    market = FakeMarket({"ETHUSDT": D(100)})
    clock = Clock(NOW, market)
    risk = RiskSettings(_env_file=None, QT_MAX_NOTIONAL_PER_TRADE="100000", QT_MAX_POSITION_PER_SYMBOL="1000")  # type: ignore[call-arg]
    params = PlanParams(
        cost_margin_bps=D(60),
        max_notional_per_trade=D(100000),
        max_position_per_symbol=D(1000),
        slice_notional=D(250),
        slice_window_seconds=400,
    )

    def start() -> Harness:
        return build(database_url, tmp_path, market, weights={"ETHUSDT": D(1)}, params=params, risk=risk, clock=clock)

    h = start()
    try:
        await h.service.reconcile()
        await h.service.run_cycle()  # 1,000 of ETH cut to the limit: 4 slices of 2.5 ETH, the first sent
        for _ in range(2):  # slices 2 and 3, 100 s apart
            clock.advance(100)
            await h.service.tend_resting()
        market.prices["ETHUSDT"] = D(104)  # +4% before slice 4: 7.4925 ETH held are 779.22 at the mark
        clock.advance(100)
        if after == "no restart":
            await h.service.tend_resting()
        else:
            h.close()  # the process stops; a new one starts on the same databases
            h = start()
            await h.service.reconcile()
            if after == "restart, then the resting check":
                await h.service.tend_resting()
            else:
                await h.service.run_cycle()
        with h.sessions() as session:
            rows = {o.client_order_id: o for o in session.scalars(select(Order).order_by(Order.id))}
        last = rows["qt-2-ETHUSDT-B-s4"]
        assert last.status == "REFUSED"
        assert last.error_message is not None
        assert "projected ETHUSDT position 1039.22 exceeds" in last.error_message
        assert [rows[f"qt-2-ETHUSDT-B-s{k}"].status for k in (1, 2, 3)] == ["FILLED"] * 3
        held = {p.symbol: p for p in (await h.service.portfolio(refresh=False)).positions}
        assert held["ETHUSDT"].quantity == D("7.4925")  # three slices of 2.5 less the fees in ETH
        assert held["ETHUSDT"].market_value == D("779.22")
    finally:
        h.close()
