"""maker_first: what a resting order locks on the exchange (the quote of a buy, the base of a sale)
is still the account's: the equity the weights share out counts it, only what may be spent or sold
now is limited to the free amounts, and nothing is re-planned on the symbol while it rests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from backend.execution.planner import PlanParams
from backend.tests.execution.fakes import NOW, Clock, FakeMarket
from backend.tests.execution.harness import Harness, build
from database.models.execution import Order

D = Decimal
MAKER = PlanParams(
    cost_margin_bps=D(60),
    max_notional_per_trade=D(100000),
    order_style="maker_first",
    maker_timeout_seconds=600.0,
    maker_reprices=0,
)


def orders(h: Harness) -> list[tuple[str, str, str]]:
    with h.sessions() as session:
        return [(o.client_order_id, o.side, o.status) for o in session.scalars(select(Order).order_by(Order.id))]


async def test_cash_locked_by_a_resting_maker_buy_stays_in_the_equity_the_weights_share_out(
    database_url: str, tmp_path: Path
) -> None:
    market = FakeMarket({"ETHUSDT": D(1000), "BTCUSDT": D(50000)}, spread_bps=D(2), depth=D(1000))
    clock = Clock(NOW, market)
    weights = {"ETHUSDT": D("0.6"), "BTCUSDT": D("0.3")}
    h = build(database_url, tmp_path, market, weights=weights, params=MAKER, clock=clock)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()  # two maker buys rest at the bids
        market.prices["ETHUSDT"] = D("999.70")  # the ETH asks come down onto the resting bid: it fills
        clock.advance(20)
        await h.service.tend_resting()
        market.prices["ETHUSDT"] = D(1000)  # and the market is back where it was
        clock.advance(10)
        third = await h.service.run_cycle()  # same weights, same prices: nothing to do
        assert orders(h) == [("qt-2-ETHUSDT-B", "BUY", "FILLED"), ("qt-2-BTCUSDT-B", "BUY", "NEW")]
        assert third.submitted == 0
        # 9,994.60: 4,000.60 of cash (2,999.70 of it locked by the BTC bid) and 6 ETH at 1,000 (5,994
        # is 0.6 of it, so ETH is where it should be); before, the planner saw 6,995 and sold 1.797 ETH
        assert third.equity == D("9994.6")
        assert [s["symbol"] for s in third.skipped_orders if "still working" in s["reason"]] == ["BTCUSDT"]
    finally:
        h.close()


async def test_base_locked_by_a_resting_maker_sale_stays_in_the_equity_the_weights_share_out(
    database_url: str, tmp_path: Path
) -> None:
    market = FakeMarket({"ETHUSDT": D(1000), "BTCUSDT": D(50000)}, spread_bps=D(2), depth=D(1000))
    clock = Clock(NOW, market)
    h = build(
        database_url, tmp_path, market, weights={"ETHUSDT": D("0.6"), "BTCUSDT": D("0.3")}, params=MAKER, clock=clock
    )
    try:
        await h.service.reconcile()
        await h.service.run_cycle()  # two maker buys rest at the bids
        market.prices.update({"ETHUSDT": D("999.70"), "BTCUSDT": D("49985")})  # both filled
        clock.advance(20)
        await h.service.tend_resting()
        market.prices.update({"ETHUSDT": D(1000), "BTCUSDT": D(50000)})
        h.weights = {"ETHUSDT": D("0.3"), "BTCUSDT": D("0.3")}
        clock.advance(10)
        await h.service.run_cycle()  # an ETH maker sale rests at the ask, its base locked
        before = orders(h)
        assert before[-1][1:] == ("SELL", "NEW"), before
        clock.advance(10)
        fourth = await h.service.run_cycle()  # same weights, same prices: BTC is where it should be
        assert orders(h) == before  # no BTC sale: the locked ETH still counts in the equity
        assert fourth.submitted == 0
        assert [s["symbol"] for s in fourth.skipped_orders if "still working" in s["reason"]] == ["ETHUSDT"]
    finally:
        h.close()
