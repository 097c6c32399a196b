"""Scenario tests of issue 12: the seven ways the money paths broke a promise, one test each.

Each runs the real ledger, risk guard and paper exchange on a migrated database (SQLite, and
PostgreSQL with QT_TEST_DATABASE_URL), with a small adapter wrapper where a fault is injected.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from backend.exchanges.base import Exchange, OrderRequest, OrderResult, OrderSide
from backend.exchanges.errors import UnknownOutcomeError
from backend.exchanges.paper import PaperConfig
from backend.execution.planner import PlanParams
from backend.tests.execution.fakes import Clock, FakeMarket
from backend.tests.execution.harness import build
from backend.tests.execution.test_service import LosesAnswers
from config.risk import RiskSettings

D = Decimal


def risk(**values: str) -> RiskSettings:
    return RiskSettings(_env_file=None, **values)  # type: ignore[call-arg]


async def test_d6_allow_partial_false_leaves_a_small_excess_alone(database_url: str, tmp_path: Path) -> None:
    """Defect 6: with QT_EXECUTION_ALLOW_PARTIAL=false a position a little over target was sold whole."""
    market = FakeMarket({"BTCUSDT": D(50000), "ETHUSDT": D(3000)})
    params = PlanParams(allow_partial=False, cost_margin_bps=D(60), min_notional=D(50))
    h = build(database_url, tmp_path, market, weights={"BTCUSDT": D("0.5"), "ETHUSDT": D("0.5")}, params=params)
    try:
        await h.service.reconcile()
        first = await h.service.run_cycle()
        assert first.submitted == 2
        for i in range(20):  # small moves: BTC a few tenths of a percent up and down
            market.prices["BTCUSDT"] = D(50000) * (1 + D((-1) ** i) * D("0.002"))
            report = await h.service.run_cycle()
            assert report.failed == 0, report.errors
        # every excess was below the minimum notional: no full exit, no churn of fees
        sells = [t for s in ("BTCUSDT", "ETHUSDT") for t in await h.adapter.trades(s) if t.side is OrderSide.SELL]
        assert sells == []
        assert h.service.ledger.positions()["BTCUSDT"].quantity > 0
    finally:
        h.close()


class DropsFirst(LosesAnswers):
    """The first request never reaches the exchange, but the caller cannot know: outcome unknown."""

    async def submit_order(self, request: OrderRequest) -> OrderResult:
        self.submits.append(request.client_order_id)
        if self.lose > 0:
            self.lose -= 1
            raise UnknownOutcomeError("connection reset")
        return await self.inner.submit_order(request)


async def test_d7_order_resolved_as_never_placed_releases_its_reservation(database_url: str, tmp_path: Path) -> None:
    """Defect 7: an order resolved as never placed kept its risk reservation for an hour."""
    market = FakeMarket({"ETHUSDT": D(3000)})
    clock = Clock(market=market)
    wrappers: list[DropsFirst] = []

    def wrap(inner: Exchange) -> Exchange:
        wrappers.append(DropsFirst(inner))
        return wrappers[0]

    limits = risk(QT_MAX_NOTIONAL_PER_TRADE="5000", QT_MAX_POSITION_PER_SYMBOL="5000")
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.4")}, risk=limits, wrap=wrap, clock=clock)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        clock.advance(600)  # past any grace window: the lookups say it was never placed
        await h.service.run_cycle()
        await h.service.run_cycle()
        snap = h.guard.snapshot()
        assert snap.pending_orders == 0
        held = h.service.ledger.positions()["ETHUSDT"].quantity
        assert held * D(3000) > D(3500), "the legitimate buy was refused by a phantom reservation"
        assert snap.exposure_by_symbol["ETHUSDT"] < D(5000)
    finally:
        h.close()


async def test_d1_price_sanity_compares_the_book_with_an_independent_reference(
    database_url: str, tmp_path: Path
) -> None:
    """Defect 1: the order's price and the guard's reference were both the plan's mark."""
    # the book top says 2100, the last trade 3000 (30 % apart); the depth fills near 3000
    market = FakeMarket(
        {"ETHUSDT": D(2100)}, last_prices={"ETHUSDT": D(3000)}, depth_factor={"ETHUSDT": D(3000) / 2100}
    )
    limits = risk(QT_MAX_NOTIONAL_PER_TRADE="10000", QT_MAX_PRICE_DEVIATION_PCT="5")
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.5")}, risk=limits)
    try:
        await h.service.reconcile()
        report = await h.service.run_cycle()
        assert report.submitted == 0
        [refused] = [s for s in report.skipped_orders if s["reason"].startswith("risk guard refused")]
        assert "(price_sanity)" in refused["reason"]
        assert "deviates" in refused["reason"]
        assert await h.adapter.trades("ETHUSDT") == []
    finally:
        h.close()


async def test_d1_stale_book_is_refused_by_price_sanity(database_url: str, tmp_path: Path) -> None:
    market = FakeMarket({"ETHUSDT": D(3000)})
    clock = Clock()  # the market's observations stay behind while the clock moves on
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.5")}, clock=clock)
    try:
        await h.service.reconcile()
        clock.advance(301)
        report = await h.service.run_cycle()
        assert report.submitted == 0
        assert "(price_sanity)" in report.skipped_orders[0]["reason"]
    finally:
        h.close()


async def test_d1_fill_outside_the_bound_halts_trading(database_url: str, tmp_path: Path) -> None:
    """After a fill the average fill price is checked against the reference: outside halts."""
    market = FakeMarket({"ETHUSDT": D(3000), "BTCUSDT": D(50000)}, depth_factor={"ETHUSDT": D("1.08")})
    audited: list[tuple[dict[str, object], dict[str, object]]] = []
    h = build(
        database_url,
        tmp_path,
        market,
        weights={"ETHUSDT": D("0.45"), "BTCUSDT": D("0.35")},  # ETH goes first (larger)
        paper=PaperConfig(max_slippage_bps=D(50)),
        audit_hook=lambda before, after: audited.append((before, after)),
    )
    try:
        await h.service.reconcile()
        report = await h.service.run_cycle()
        assert h.guard.kill_switch_enabled()
        state = h.guard.kill_switch_state()
        assert state.actor == "risk-guard"
        assert state.reason is not None
        assert "fill price" in state.reason
        assert "ETHUSDT" in state.reason
        assert audited
        assert audited[-1][1]["enabled"] is True
        halts = h.metrics.risk_fill_price_halts.labels(symbol="ETHUSDT")._value.get()  # type: ignore[attr-defined]
        assert halts == 1
        # the fill itself is real and recorded; nothing more was sent after it
        assert (report.submitted, report.status) == (1, "halted")
        assert h.service.ledger.positions()["ETHUSDT"].quantity > 0
        assert await h.adapter.trades("BTCUSDT") == []
    finally:
        h.close()
