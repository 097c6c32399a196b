"""Property test of issue 12: many cycles with random injected faults, invariants after every step.

Faults: a timeout after the exchange accepted (answer lost), a request that never arrived, a request
the exchange executes late (after the first lookup), a ledger write that fails, a restart (new
service and guard on the same database and risk store), price jumps. After every step:

- ledger == exchange (cash and every position), once no order is left unresolved;
- guard daily realised PnL == ledger daily realised PnL (same condition);
- no executed buy spent more than QT_MAX_NOTIONAL_PER_TRADE (buys go by quote amount); no sale
  sold more than QT_MAX_NOTIONAL_PER_TRADE's worth at the price of the moment it was sent (a sale
  goes by quantity: one the exchange executes late, after a price jump, *receives* more than the
  limit for the same quantity, which adds no exposure); no position beyond
  QT_MAX_POSITION_PER_SYMBOL at its fill prices;
- no client order id reached the exchange twice, and no order was sent on a symbol while an
  earlier one was still unknown.

A failover step stalls the leader between saving an order and sending it, lets a new leader (the
next epoch, same database) reconcile and trade, then resumes the old one: it must send nothing.

The second property runs maker_first (orders resting across steps, small moves through and away
from them, lost answers, restarts, the kill switch on and off) and adds: at most one open order
per symbol, the guard reserving exactly the open orders' open quantity, no open order while the
kill switch is on, at most QT_EXECUTION_MAKER_REPRICES re-prices per planned order, and nothing
left open once time has passed.

`QT_FAULT_EXAMPLES` (default 6) and `QT_FAULT_STEPS` (default 8) size the run; `make fuzz` style
long runs: `QT_FAULT_EXAMPLES=200 QT_FAULT_STEPS=20 pytest backend/tests/execution/test_fault_property.py`.
SQLite only: each example needs a fresh database (a copy of the migrated template). The faulty
exchange and the invariant checks are in backend/tests/execution/fault_checks.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from backend.execution.planner import PlanParams
from backend.tests.execution.fakes import Clock, FakeMarket
from backend.tests.execution.fault_checks import (
    COUNTS,
    LIMIT_POSITION,
    LIMIT_TRADE,
    FaultyExchange,
    check_invariants,
    check_resting,
    open_order_count,
)
from backend.tests.execution.harness import Harness, build
from config.risk import RiskSettings

D = Decimal
EXAMPLES = int(os.environ.get("QT_FAULT_EXAMPLES", "6"))
STEPS = int(os.environ.get("QT_FAULT_STEPS", "8"))
PRICES = {"BTCUSDT": D(50000), "ETHUSDT": D(3000)}
FAULTS = ("none", "timeout_after_accept", "never_arrived", "late", "ledger_fails", "restart", "jump", "failover")


async def fail_over(
    old: Harness, make: Callable[[], Harness], weights: dict[str, Decimal] | None, faulty: FaultyExchange
) -> Harness:
    """The leader stalls between saving an order and sending it (or finishes a cycle that sends
    nothing); a new leader with the next epoch takes over, reconciles and trades; then the old one
    resumes, and must send nothing (fencing). Returns the new leader."""
    paused, resume = asyncio.Event(), asyncio.Event()

    stalled: list[str] = []

    async def stall(client_order_id: str) -> None:
        stalled.append(client_order_id)
        paused.set()
        await resume.wait()

    old.service._before_send = stall
    cycle = asyncio.create_task(old.service.run_cycle())
    waiting = asyncio.create_task(paused.wait())
    await asyncio.wait({cycle, waiting}, return_when=asyncio.FIRST_COMPLETED)
    COUNTS["failover_mid_send"] = COUNTS.get("failover_mid_send", 0) + int(paused.is_set())
    new = make()
    new.weights = weights
    try:
        await new.service.reconcile()
        await new.service.run_cycle()
    finally:
        resume.set()
        await cycle
        waiting.cancel()
        old.close()
    # the order the old leader had saved and was about to send never reaches the exchange
    assert not set(stalled) & set(faulty.sent), f"the old leader sent {stalled} after the failover"
    return new


step_st = st.tuples(
    st.sampled_from(FAULTS),
    st.dictionaries(st.sampled_from(sorted(PRICES)), st.integers(min_value=0, max_value=4), max_size=2),
    st.sampled_from([D("0.9"), D("0.97"), D(1), D("1.03"), D("1.1")]),
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step_st, min_size=2, max_size=STEPS))
def test_property_money_paths_hold_under_random_faults(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, dict[str, int], Decimal]]
) -> None:
    asyncio.run(_run(sqlite_template, tmp_path_factory.mktemp("faults"), steps))


async def _run(template: Path, tmp: Path, steps: list[tuple[str, dict[str, int], Decimal]]) -> None:
    db = tmp / "qt.db"
    shutil.copyfile(template, db)
    url = f"sqlite:///{db}"
    market = FakeMarket(dict(PRICES))
    clock = Clock(market=market)
    faulty = FaultyExchange()
    faulty.market = market
    limits = RiskSettings(  # type: ignore[call-arg]
        _env_file=None,
        QT_MAX_NOTIONAL_PER_TRADE=str(LIMIT_TRADE),
        QT_MAX_POSITION_PER_SYMBOL=str(LIMIT_POSITION),
        QT_MAX_DAILY_LOSS="100000",
    )

    epochs = iter(range(1, 10_000))

    def make() -> Harness:
        h = build(url, tmp, market, weights=None, risk=limits, wrap=faulty.attach, clock=clock)
        h.service._unknown_grace = lambda: 60.0
        epoch = next(epochs)  # each process that leads has its own leader epoch
        h.service._epoch = lambda: epoch
        return h

    h = make()
    seen: set[str] = set()
    COUNTS["examples"] = COUNTS.get("examples", 0) + 1
    try:
        await h.service.reconcile()
        for fault, raw_weights, move in steps:
            COUNTS["cycles"] = COUNTS.get("cycles", 0) + 1
            COUNTS[fault] = COUNTS.get(fault, 0) + 1
            total = sum(raw_weights.values())
            h.weights = {s: D(w) / D(total) for s, w in raw_weights.items() if w} if total else {}
            if fault == "jump":
                for symbol in market.prices:
                    market.prices[symbol] = (market.prices[symbol] * move).quantize(D("0.01"))
            elif fault == "restart":
                h.close()
                h = make()
                await h.service.reconcile()
            elif fault == "failover":
                h = await fail_over(h, make, h.weights, faulty)
            elif fault == "ledger_fails":
                real = h.service.ledger.apply
                armed = [True]

                def failing(fills: Any, _real: Any = real, _armed: list[bool] = armed, **kw: Any) -> Any:
                    if _armed and fills:
                        _armed.pop()
                        raise OperationalError("INSERT INTO fills", {}, Exception("disk I/O error"))
                    return _real(fills, **kw)

                h.service.ledger.apply = failing  # type: ignore[method-assign]
            elif fault != "none":
                faulty.next_fault = fault
            await h.service.run_cycle()
            h.service.ledger.apply = type(h.service.ledger).apply.__get__(h.service.ledger)  # type: ignore[method-assign]
            clock.advance(30)
            await check_invariants(h, faulty, clock(), seen)
        # settle: time passes, no new faults; every invariant must hold in full at the end
        h.weights = {}
        for _ in range(5):
            clock.advance(40)
            await h.service.run_cycle()
        assert open_order_count(h) == 0
        await check_invariants(h, faulty, clock(), seen)
    finally:
        h.close()


# ----------------------------------------------------------------------------- resting orders
# maker_first: orders rest across steps while the market moves a little either way (through them or
# away), answers are lost, the process restarts and the kill switch goes on and off.
RESTING_ACTIONS = ("none", "move", "restart", "kill", "timeout_after_accept", "never_arrived")
REPRICES = 1
resting_step_st = st.tuples(
    st.sampled_from(RESTING_ACTIONS),
    st.dictionaries(st.sampled_from(sorted(PRICES)), st.integers(min_value=0, max_value=4), max_size=2),
    st.sampled_from([D("0.9985"), D("0.9995"), D("1.0005"), D("1.0015")]),
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(resting_step_st, min_size=2, max_size=STEPS))
def test_property_resting_orders_hold_under_random_faults(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, dict[str, int], Decimal]]
) -> None:
    asyncio.run(_run_resting(sqlite_template, tmp_path_factory.mktemp("resting"), steps))


async def _run_resting(template: Path, tmp: Path, steps: list[tuple[str, dict[str, int], Decimal]]) -> None:
    db = tmp / "qt.db"
    shutil.copyfile(template, db)
    url = f"sqlite:///{db}"
    market = FakeMarket(dict(PRICES), spread_bps=D(4), depth=D("0.02"))  # thin: dips fill in part
    clock = Clock(market=market)
    faulty = FaultyExchange()
    faulty.market = market
    limits = RiskSettings(  # type: ignore[call-arg]
        _env_file=None,
        QT_MAX_NOTIONAL_PER_TRADE=str(LIMIT_TRADE),
        QT_MAX_POSITION_PER_SYMBOL=str(LIMIT_POSITION),
        QT_MAX_DAILY_LOSS="100000",
    )
    params = PlanParams(
        cost_margin_bps=D(60),
        max_notional_per_trade=LIMIT_TRADE,
        max_position_per_symbol=LIMIT_POSITION,
        order_style="maker_first",
        maker_timeout_seconds=60.0,
        maker_reprices=REPRICES,
    )

    def make() -> Harness:
        h = build(url, tmp, market, weights=None, risk=limits, params=params, wrap=faulty.attach, clock=clock)
        h.service._unknown_grace = lambda: 60.0
        return h

    h = make()
    seen: set[str] = set()
    halted = False
    try:
        await h.service.reconcile()
        for action, raw_weights, move in steps:
            COUNTS[f"resting_{action}"] = COUNTS.get(f"resting_{action}", 0) + 1
            total = sum(raw_weights.values())
            h.weights = {s: D(w) / D(total) for s, w in raw_weights.items() if w} if total else {}
            if action == "move":
                for symbol in market.prices:
                    market.prices[symbol] = (market.prices[symbol] * move).quantize(D("0.01"))
            elif action == "restart":
                h.close()
                h = make()
                await h.service.reconcile()
            elif action == "kill":
                halted = not halted
                await h.guard.set_kill_switch(halted, "property test", "test")
                if halted:
                    await h.service.cancel_open("kill switch on")
            elif action != "none":
                faulty.next_fault = action
            await h.service.run_cycle()
            clock.advance(30)
            await h.service.tend_resting()
            await check_resting(h, faulty, halted=halted, reprices=REPRICES)
            await check_invariants(h, faulty, clock(), seen)
        # settle: the kill switch off, time passes, nothing more wanted: every maker order finishes
        if halted:
            await h.guard.set_kill_switch(False, "property test", "test")
        h.weights = {}
        for _ in range(5):
            clock.advance(70)
            await h.service.run_cycle()
        assert open_order_count(h) == 0
        assert await faulty.open_orders() == []
        await check_resting(h, faulty, halted=False, reprices=REPRICES)
        await check_invariants(h, faulty, clock(), seen)
    finally:
        h.close()


def teardown_module() -> None:
    print(f"\nfault property test: {COUNTS}")
