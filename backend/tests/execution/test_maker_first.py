"""QT_EXECUTION_ORDER_STYLE=maker_first on the paper exchange: a LIMIT_MAKER at the best bid that
rests across cycles (no new order on its symbol meanwhile, the guard reserving its open quantity),
never fills and falls back to limit_ioc after the timeout; a partial fill, then the re-price and the
cancel; the kill switch cancelling it; a restart with it resting."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from backend.components.execution import watch_kill_switch
from backend.execution.planner import PlanParams
from backend.tests.execution.fakes import NOW, Clock, FakeMarket
from backend.tests.execution.harness import Harness, build
from database.models.execution import Order, PaperOrder

D = Decimal
WEIGHTS = {"ETHUSDT": D("0.5")}


def params(**extra: object) -> PlanParams:
    values: dict[str, object] = {
        "cost_margin_bps": D(60),
        "max_notional_per_trade": D(100000),
        "order_style": "maker_first",
        "maker_timeout_seconds": 60.0,
        "maker_reprices": 1,
    }
    values.update(extra)
    return PlanParams(**values)  # type: ignore[arg-type]


def setup(database_url: str, tmp_path: Path, **extra: object) -> tuple[Harness, FakeMarket, Clock]:
    # bid 999.90 / ask 1000.10 (2 bps), levels 0.50 apart with 2 ETH each (a small dip fills in part)
    market = FakeMarket({"ETHUSDT": D(1000)}, spread_bps=D(2), depth=D(2))
    clock = Clock(NOW, market)
    return build(database_url, tmp_path, market, weights=WEIGHTS, params=params(**extra), clock=clock), market, clock


def orders(h: Harness) -> list[Order]:
    with h.sessions() as session:
        return list(session.scalars(select(Order).order_by(Order.id)))


async def test_a_maker_order_that_never_fills_rests_then_falls_back_to_limit_ioc(
    database_url: str, tmp_path: Path
) -> None:
    h, _market, clock = setup(database_url, tmp_path)
    try:
        await h.service.reconcile()
        first = await h.service.run_cycle()
        assert first.submitted == 1, first
        [maker] = orders(h)
        assert (maker.order_type, maker.status, maker.executed_quantity) == ("LIMIT_MAKER", "NEW", D(0))
        with h.sessions() as session:
            on_paper = session.scalar(select(PaperOrder))
        assert on_paper is not None
        assert on_paper.price == D("999.90")  # the best bid: it joins the book, it does not cross
        # the guard reserves the open quantity at its price, not a market order's notional
        risk = h.guard.snapshot()
        assert (risk.pending_orders, risk.turnover_pending) == (1, maker.requested_quantity * D("999.90"))

        clock.advance(30)  # inside the timeout: it rests, nothing new is planned on ETH
        second = await h.service.run_cycle()
        assert second.submitted == 0
        assert any("still working on this symbol" in s["reason"] for s in second.skipped_orders), second.skipped_orders
        assert [o.status for o in orders(h)] == ["NEW"]

        clock.advance(31)  # past the timeout: cancelled, the rest sent as limit_ioc
        third = await h.service.run_cycle()
        root, taker = orders(h)[:2]
        assert (root.status, taker.client_order_id) == ("CANCELED", f"{root.client_order_id}-t")
        assert (taker.order_type, taker.status, taker.parent_client_order_id) == (
            "LIMIT",
            "FILLED",
            root.client_order_id,
        )
        assert taker.requested_quantity == root.requested_quantity
        assert taker.reference_price == root.reference_price  # shortfall against the arrival mark
        assert third.submitted >= 1
        positions = h.service.ledger.positions()
        assert positions["ETHUSDT"].quantity == taker.executed_quantity - sum(
            f.fee for f in (await h.adapter.trades("ETHUSDT"))
        )
        assert h.guard.snapshot().pending_orders == 0
        assert await h.adapter.open_orders() == []  # type: ignore[attr-defined]
    finally:
        h.close()


async def test_a_partial_fill_then_a_reprice_then_the_cancel(database_url: str, tmp_path: Path) -> None:
    h, market, clock = setup(database_url, tmp_path, maker_timeout_seconds=300.0)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        [maker] = orders(h)
        wanted = maker.requested_quantity
        assert wanted > D(2)  # more than the one level a dip offers
        # the market dips through the bid: asks at 999.80 - 2 ETH of the resting buy fill at 999.90
        market.prices["ETHUSDT"] = D("999.70")
        clock.advance(10)
        await h.service.run_cycle()
        [maker] = orders(h)
        assert (maker.status, maker.executed_quantity) == ("PARTIALLY_FILLED", D(2))
        assert h.guard.snapshot().turnover_pending == (wanted - D(2)) * D("999.90")
        # then it rises: the bid (1000.40) leaves the order behind, so it is re-priced once
        market.prices["ETHUSDT"] = D("1000.50")
        clock.advance(10)
        await h.service.run_cycle()
        root, moved = orders(h)[:2]
        assert (root.status, root.executed_quantity) == ("CANCELED", D(2))
        assert (moved.client_order_id, moved.order_type, moved.status) == (
            f"{root.client_order_id}-m1",
            "LIMIT_MAKER",
            "NEW",
        )
        assert moved.requested_quantity == wanted - D(2)
        # left behind again, but the one re-price is used up: it rests until the timeout, then limit_ioc
        market.prices["ETHUSDT"] = D("1001")
        clock.advance(10)
        await h.service.run_cycle()
        assert [o.status for o in orders(h)] == ["CANCELED", "NEW"]
        clock.advance(300)
        await h.service.run_cycle()
        root, moved, taker = orders(h)[:3]
        assert (moved.status, taker.client_order_id, taker.status) == (
            "CANCELED",
            f"{root.client_order_id}-t",
            "FILLED",
        )
        assert root.executed_quantity + taker.executed_quantity == wanted
        assert h.guard.snapshot().pending_orders == 0
    finally:
        h.close()


async def test_the_kill_switch_cancels_resting_orders(database_url: str, tmp_path: Path) -> None:
    h, _market, clock = setup(database_url, tmp_path)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        usdt = (await h.adapter.account()).balances["USDT"]
        assert usdt.locked > 0
        await h.guard.set_kill_switch(True, "operator stop", "test")
        cancelled = await h.service.cancel_open("kill switch on")
        [maker] = orders(h)
        assert cancelled == [maker.client_order_id]
        assert maker.status == "CANCELED"
        usdt = (await h.adapter.account()).balances["USDT"]
        assert (usdt.free, usdt.locked) == (D(10000), D(0))
        assert h.guard.snapshot().pending_orders == 0
        clock.advance(120)  # halted: no fallback order either
        report = await h.service.run_cycle()
        assert report.status == "halted"
        assert len(orders(h)) == 1
    finally:
        h.close()


async def test_turning_the_kill_switch_on_cancels_at_once(database_url: str, tmp_path: Path) -> None:
    h, _market, _clock = setup(database_url, tmp_path)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
        results: list[list[str]] = []
        real = h.service.cancel_open

        async def recording(reason: str) -> list[str]:
            done = await real(reason)
            results.append(done)
            return done

        h.service.cancel_open = recording  # type: ignore[method-assign]
        tasks = watch_kill_switch(h.guard, h.service, asyncio.get_running_loop(), read_only=False)
        # set from a worker thread, like the API: the listener hands the cancel to the loop before
        # the worker's own answer arrives (both go through call_soon_threadsafe, in that order)
        await h.guard.set_kill_switch(True, "drawdown", "test")
        await asyncio.gather(*tasks)  # the cancel may still be running (or already done)
        [maker] = orders(h)
        assert (results, maker.status) == ([[maker.client_order_id]], "CANCELED")
        await h.guard.set_kill_switch(False, "resume", "test")
        await h.guard.set_kill_switch(True, "again", "test")  # nothing open: nothing cancelled
        await asyncio.gather(*tasks)
        assert results == [[maker.client_order_id], []]
    finally:
        h.close()


async def test_a_restart_with_an_order_resting(database_url: str, tmp_path: Path) -> None:
    h, market, clock = setup(database_url, tmp_path, maker_timeout_seconds=600.0)
    try:
        await h.service.reconcile()
        await h.service.run_cycle()
    finally:
        h.close()
    # a new process: new adapter, new guard on the same risk store, the same databases
    again = build(
        database_url, tmp_path, market, weights=WEIGHTS, params=params(maker_timeout_seconds=600.0), clock=clock
    )
    try:
        report = await again.service.reconcile()
        assert report.error is None
        assert report.unresolved == []  # a resting order is known, not unknown
        [maker] = orders(again)
        assert maker.status == "NEW"
        assert again.guard.snapshot().turnover_pending == maker.requested_quantity * D("999.90")
        market.prices["ETHUSDT"] = D("998")  # the market falls through it: the whole order fills
        clock.advance(30)
        market.depth = D(100)
        cycle = await again.service.run_cycle()
        [maker] = orders(again)[:1]
        assert maker.status == "FILLED"
        assert again.service.ledger.positions()["ETHUSDT"].quantity > 0
        assert again.guard.snapshot().pending_orders == 0
        assert cycle.status in ("ok", "degraded")
    finally:
        again.close()
