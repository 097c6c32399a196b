"""Holdings the planner leaves alone: kept assets (QT_EXECUTION_KEEP_ASSETS, and an asset that has
paid fees, BNB when fees are paid in BNB) are never sold; dust is listed as dust, never planned.

The planner alone (pure), then the service on a real database (SQLite, and PostgreSQL with
QT_TEST_DATABASE_URL) with the paper exchange holding BNB beside the strategy's assets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from backend.exchanges.base import Fill, OrderSide
from backend.execution.planner import PlanParams, plan_orders
from backend.tests.execution.fakes import FakeMarket, rules_for
from backend.tests.execution.harness import Harness, build
from config.execution import ExecutionSettings
from database.models.execution import PaperBalance

D = Decimal
RULES = {s: rules_for(s) for s in ("BNBUSDT", "ETHUSDT", "BTCUSDT")}
MARKS = {"BNBUSDT": D(600), "ETHUSDT": D(3000), "BTCUSDT": D(50000)}


def _plan(positions: dict[str, Decimal], weights: dict[str, Decimal], keep: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    params = PlanParams(cost_margin_bps=D(0), min_notional=D(10), keep_assets=keep)
    return plan_orders(
        cycle_id="1", weights=weights, positions=positions, cash=D(1000), marks=MARKS, rules=RULES, params=params
    )


def test_kept_asset_is_never_sold_and_not_shared_out_by_the_weights() -> None:
    plan = _plan({"BNBUSDT": D(2)}, {"ETHUSDT": D(1)}, keep=frozenset({"BNB"}))
    assert [(o.symbol, o.side) for o in plan.orders] == [("ETHUSDT", OrderSide.BUY)]
    assert plan.equity == D(1000)  # the 1,200 of BNB is the account's, not the strategy's
    assert plan.orders[0].notional <= D(1000)
    assert plan.skipped == []
    # without the keep list the same holding is an unselected position: sold whole
    assert ("BNBUSDT", OrderSide.SELL) in {(o.symbol, o.side) for o in _plan({"BNBUSDT": D(2)}, {}).orders}


def test_kept_asset_in_the_selection_is_skipped_with_its_reason() -> None:
    plan = _plan({"BNBUSDT": D(2)}, {"BNBUSDT": D("0.5"), "ETHUSDT": D("0.5")}, keep=frozenset({"BNB"}))
    assert [o.symbol for o in plan.orders] == ["ETHUSDT"]
    assert [(s.symbol, s.reason) for s in plan.skipped] == [
        ("BNBUSDT", "BNB is a kept asset (QT_EXECUTION_KEEP_ASSETS or a fee asset): never traded")
    ]


def test_dust_is_not_planned_but_a_buy_on_top_of_it_is() -> None:
    dust = {"BTCUSDT": D("0.00004")}  # below the 0.001 step: the exchange takes no sell of it
    plan = _plan(dust, {})
    assert (plan.orders, plan.skipped) == ([], [])
    bought = _plan(dust, {"BTCUSDT": D("0.5")})
    assert [(o.symbol, o.side) for o in bought.orders] == [("BTCUSDT", OrderSide.BUY)]


def test_keep_assets_setting_is_a_comma_list_of_asset_codes() -> None:
    settings = ExecutionSettings(_env_file=None, QT_EXECUTION_KEEP_ASSETS="bnb, eth ,BNB")
    assert settings.keep_assets == ["BNB", "ETH"]
    assert ExecutionSettings(_env_file=None).keep_assets == []


def _with_bnb(database_url: str, tmp_path: Path, params: PlanParams) -> Harness:
    market = FakeMarket({"ETHUSDT": D(3000), "BNBUSDT": D(600)})
    h = build(database_url, tmp_path, market, weights={"ETHUSDT": D("0.5")}, params=params)
    with h.sessions.begin() as session:  # the account holds 3 BNB beside its USDT
        session.merge(PaperBalance(asset="USDT", free=D(10000), locked=D(0)))
        session.merge(PaperBalance(asset="BNB", free=D(3), locked=D(0)))
    return h


async def _bnb_after_cycles(h: Harness) -> Decimal:
    await h.service.reconcile()
    assert h.service.ledger.positions()["BNBUSDT"].quantity == D(3)  # adopted from the account
    for _ in range(3):
        report = await h.service.run_cycle()
        assert report.failed == 0, report.errors
        assert "BNBUSDT" not in {s["symbol"] for s in report.skipped_orders}
    assert h.service.ledger.positions()["ETHUSDT"].quantity > 0
    return (await h.adapter.account()).balances["BNB"].free


async def test_listed_keep_asset_is_never_sold_by_the_cycle(database_url: str, tmp_path: Path) -> None:
    h = _with_bnb(database_url, tmp_path, PlanParams(cost_margin_bps=D(60), keep_assets=frozenset({"BNB"})))
    try:
        assert await _bnb_after_cycles(h) == D(3)
    finally:
        h.close()


async def test_an_asset_that_paid_fees_is_kept_without_being_listed(database_url: str, tmp_path: Path) -> None:
    h = _with_bnb(database_url, tmp_path, PlanParams(cost_margin_bps=D(60)))
    try:
        # an earlier trade paid its fee in BNB (as Binance does with the BNB discount on)
        t = datetime(2026, 11, 24, tzinfo=UTC)
        fill = Fill("old-1", "ETHUSDT", OrderSide.BUY, D(3000), D("0.01"), D("0.0001"), "BNB", t)
        h.service.ledger.record_fills([fill], base_assets={"ETHUSDT": "ETH", "BNBUSDT": "BNB"})
        assert h.service.ledger.fee_assets() == {"BNB"}
        assert await _bnb_after_cycles(h) == D(3)
        assert h.service.fee_assets == {"BNB"}
    finally:
        h.close()
