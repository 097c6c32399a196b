"""A fill far from the book halts trading when its answer was lost and the order is found by lookup,
the same as when the answer arrives: checked against the planned price the ledger stored for it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from backend.exchanges.base import Exchange
from backend.exchanges.paper import PaperConfig
from backend.tests.execution.fakes import FakeMarket
from backend.tests.execution.harness import build
from backend.tests.execution.test_service import LosesAnswers
from database.models.execution import Order

D = Decimal


async def test_an_eth_fill_at_3240_32_found_by_lookup_after_a_lost_answer_halts_before_btc_is_bought(
    database_url: str, tmp_path: Path
) -> None:
    # the book sits 8 % above the 3,000 mark; ETH goes first (the larger weight), BTC would follow
    market = FakeMarket({"ETHUSDT": D(3000), "BTCUSDT": D(50000)}, depth_factor={"ETHUSDT": D("1.08")})
    lost: list[LosesAnswers] = []

    def wrap(inner: Exchange) -> Exchange:
        lost.append(LosesAnswers(inner, lose=1))  # the ETH send times out; the order is placed
        return lost[0]

    h = build(
        database_url,
        tmp_path,
        market,
        weights={"ETHUSDT": D("0.45"), "BTCUSDT": D("0.35")},
        paper=PaperConfig(max_slippage_bps=D(50)),
        wrap=wrap,
    )
    try:
        await h.service.reconcile()
        report = await h.service.run_cycle()
        eth = await h.adapter.trades("ETHUSDT")
        average = sum((f.price * f.quantity for f in eth), D(0)) / sum((f.quantity for f in eth), D(0))
        assert average.quantize(D("0.01")) == D("3240.32")  # 8.01 % from the reference of 3,000
        with h.sessions() as session:
            planned = session.scalars(select(Order).where(Order.symbol == "ETHUSDT")).one()
        assert (planned.status, planned.reference_price) == ("FILLED", D(3000))  # the planned mark
        # found by lookup, recorded, and checked like an answered fill: the kill switch is on
        assert h.guard.kill_switch_enabled()
        state = h.guard.kill_switch_state()
        assert state.actor == "risk-guard"
        assert state.reason is not None
        assert "fill price 3240.32" in state.reason
        assert "ETHUSDT" in state.reason
        assert "from the reference 3000" in state.reason
        halts = h.metrics.risk_fill_price_halts.labels(symbol="ETHUSDT")._value.get()
        assert halts == 1
        assert h.service.ledger.positions()["ETHUSDT"].quantity > 0  # the fill is real and recorded
        # nothing more was sent: the BTC order was refused by the kill switch
        assert report.status == "halted"
        assert [c for c in lost[0].submits if "BTC" in c] == []
        assert await h.adapter.trades("BTCUSDT") == []
    finally:
        h.close()
