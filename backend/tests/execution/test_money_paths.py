"""Scenario tests of issue 12, prices and limits: price sanity, the limits at the fill, partial exits.

Defects 1 (price sanity against an independent reference), 5 (the per-trade limit at the fill on a
thin book) and 6 (a small excess sold whole), and the position limit at the fill prices. The
defects of lost answers, failed ledger writes and failover (2, 3, 4, 7) are in
test_money_paths_recovery.py. Each runs the real ledger, risk guard and paper exchange on a
migrated database (SQLite, and PostgreSQL with QT_TEST_DATABASE_URL).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from backend.exchanges.base import OrderSide
from backend.exchanges.paper import PaperConfig
from backend.execution.planner import PlanParams
from backend.tests.execution.fakes import Clock, FakeMarket
from backend.tests.execution.harness import build
from config.risk import RiskSettings
from database.models.execution import PaperOrder

D = Decimal


def risk(**values: str) -> RiskSettings:
    return RiskSettings(_env_file=None, **values)  # type: ignore[call-arg]


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


async def test_d5_per_trade_limit_holds_at_the_fill_on_a_thin_book(database_url: str, tmp_path: Path) -> None:
    """Defect 5: a 999.00 plan executed 1,000.52 against a per-trade limit of 1,000 (thin book)."""
    market = FakeMarket({"ETHUSDT": D(3000)}, depth=D("0.05"), level_bps=D(5), levels=40)
    limits = risk(QT_MAX_NOTIONAL_PER_TRADE="1000", QT_MAX_POSITION_PER_SYMBOL="2500")
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.9")}, risk=limits)
    try:
        await h.service.reconcile()
        for _ in range(4):
            report = await h.service.run_cycle()
            assert report.failed == 0, report.errors
        with h.sessions() as session:
            orders = session.scalars(select(PaperOrder)).all()
            assert orders
            for o in orders:
                assert o.quote_quantity <= D(1000), f"{o.client_order_id} executed {o.quote_quantity}"
        pos = h.service.ledger.positions()["ETHUSDT"]
        assert pos.quantity * pos.average_cost <= D(2500)  # the position at its fill prices
    finally:
        h.close()


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


async def test_position_limit_holds_at_the_fill_prices_after_a_fill_away_from_the_book(
    database_url: str, tmp_path: Path
) -> None:
    """A buy filled 8 % above the book halts trading but is held; once the operator resumes, the
    per-symbol limit is measured on the larger of the holding at the mark and at the prices paid,
    so the next buy cannot take the position past the limit at its fill prices (at the mark alone
    it had 4,000 - 2,314 of headroom and ended at about 4,186 paid)."""
    market = FakeMarket({"ETHUSDT": D(3000)}, depth_factor={"ETHUSDT": D("1.08")})
    limits = risk(QT_MAX_NOTIONAL_PER_TRADE="2500", QT_MAX_POSITION_PER_SYMBOL="4000")
    h = build(
        database_url,
        tmp_path,
        market,
        weights={"ETHUSDT": D("0.9")},
        risk=limits,
        paper=PaperConfig(max_slippage_bps=D(1000)),
    )
    try:
        await h.service.reconcile()
        first = await h.service.run_cycle()
        assert first.submitted == 1
        assert h.guard.kill_switch_enabled()  # the fill is outside the price bound
        pos = h.service.ledger.positions()["ETHUSDT"]
        assert pos.quantity * D(3000) < pos.quantity * pos.average_cost <= D(2500)
        market.depth_factor.clear()  # the book is back where the ticker is
        h.guard.set_kill_switch_sync(False, "fill checked", "operator")
        second = await h.service.run_cycle()
        assert second.failed == 0, second.errors
        assert second.submitted == 1, second.skipped_orders
        pos = h.service.ledger.positions()["ETHUSDT"]
        assert pos.quantity * pos.average_cost <= D(4000), f"{pos.quantity * pos.average_cost} paid"
        assert pos.quantity * pos.average_cost > D(3900)  # the headroom was used, not refused
    finally:
        h.close()
