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
SQLite only: each example needs a fresh database (a copy of the migrated template).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from backend.exchanges.base import AccountSnapshot, Exchange, Fill, OrderRequest, OrderResult
from backend.exchanges.errors import UnknownOutcomeError
from backend.execution.ledger import OPEN_STATES
from backend.execution.planner import PlanParams
from backend.tests.execution.fakes import Clock, FakeMarket
from backend.tests.execution.harness import Harness, build
from config.risk import RiskSettings
from database.models.execution import Order, PaperOrder

D = Decimal
PNL_QUANTUM = Decimal("1e-12")
EXAMPLES = int(os.environ.get("QT_FAULT_EXAMPLES", "6"))
STEPS = int(os.environ.get("QT_FAULT_STEPS", "8"))
PRICES = {"BTCUSDT": D(50000), "ETHUSDT": D(3000)}
LIMIT_TRADE, LIMIT_POSITION = D(3000), D(5000)
FAULTS = ("none", "timeout_after_accept", "never_arrived", "late", "ledger_fails", "restart", "jump", "failover")
COUNTS: dict[str, int] = {}


class FaultyExchange:
    """Forwards to the paper exchange, injecting the fault planned for the next submission."""

    def __init__(self) -> None:
        self.inner: Exchange | None = None
        self.name = "paper"
        self.next_fault = "none"
        self.late: list[OrderRequest] = []
        self.sent: list[str] = []  # client ids that reached the exchange
        self.lookups_since_late = 0
        self.price_of: dict[str, Decimal] = {}  # the market price when the service sent an order
        self.market: FakeMarket | None = None

    def attach(self, inner: Exchange) -> Exchange:
        self.inner = inner
        return self  # type: ignore[return-value]

    async def _deliver_late(self) -> None:
        assert self.inner is not None
        while self.late:
            request = self.late.pop(0)
            self.sent.append(request.client_order_id)
            await self.inner.submit_order(request)

    async def submit_order(self, request: OrderRequest) -> OrderResult:
        assert self.inner is not None
        fault, self.next_fault = self.next_fault, "none"
        if self.market is not None:
            self.price_of[request.client_order_id] = self.market.prices[request.symbol]
        await self._deliver_late()
        if fault == "never_arrived":
            raise UnknownOutcomeError("connection reset")
        if fault == "late":
            self.late.append(request)
            self.lookups_since_late = 0
            raise UnknownOutcomeError("read timed out")
        self.sent.append(request.client_order_id)
        result = await self.inner.submit_order(request)
        if fault == "timeout_after_accept":
            raise UnknownOutcomeError("read timed out")
        return result

    async def query_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        assert self.inner is not None
        self.lookups_since_late += 1
        if self.late and self.lookups_since_late > 1:
            await self._deliver_late()
        return await self.inner.query_order(symbol, client_order_id)

    async def orders(self, symbol: str, since: datetime | None = None) -> list[OrderResult]:
        assert self.inner is not None
        return await self.inner.orders(symbol, since)  # type: ignore[attr-defined,no-any-return]

    async def account(self) -> AccountSnapshot:
        assert self.inner is not None
        return await self.inner.account()

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        assert self.inner is not None
        return await self.inner.cancel_order(symbol, client_order_id)  # type: ignore[attr-defined,no-any-return]

    async def open_orders(self, symbol: str | None = None) -> list[OrderResult]:
        assert self.inner is not None
        return await self.inner.open_orders(symbol)  # type: ignore[attr-defined,no-any-return]

    async def trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        assert self.inner is not None
        return await self.inner.trades(symbol, since)

    async def close(self) -> None:
        return None


def open_order_count(h: Harness) -> int:
    with h.sessions() as session:
        return len(session.scalars(select(Order.id).where(Order.status.in_(OPEN_STATES))).all())


async def check_invariants(h: Harness, faulty: FaultyExchange, now: datetime, seen: set[str]) -> None:
    with h.sessions() as session:
        executed = session.scalars(select(PaperOrder)).all()
    bought: set[str] = set()
    for order in executed:
        if order.side == "BUY":
            assert order.quote_quantity <= LIMIT_TRADE, f"{order.client_order_id} spent {order.quote_quantity}"
        else:
            sold = order.executed_quantity * faulty.price_of[order.client_order_id]
            assert sold <= LIMIT_TRADE, f"{order.client_order_id} sold {sold} at the price it was sent at"
        if order.client_order_id not in seen and order.side == "BUY" and order.executed_quantity > 0:
            bought.add(order.symbol)
        seen.add(order.client_order_id)
    assert len(set(faulty.sent)) == len(faulty.sent), f"a client order id was sent twice: {faulty.sent}"
    account = await h.adapter.account()
    for symbol in bought:  # a position that a buy of this step grew is within the limit at this step's prices
        rules = h.market.rules[symbol]
        held = account.balances[rules.base_asset].free if rules.base_asset in account.balances else D(0)
        assert held * h.market.prices[symbol] <= LIMIT_POSITION * D("1.001"), (symbol, held)
    if open_order_count(h) or faulty.late:
        COUNTS["checks_deferred_unresolved"] = COUNTS.get("checks_deferred_unresolved", 0) + 1
        return
    assert h.service.ledger.cash() == account.balances["USDT"].total  # locked by resting orders included
    for p in h.service.ledger.positions().values():
        held = account.balances[p.base_asset].total if p.base_asset in account.balances else D(0)
        assert p.quantity == held, (p.symbol, p.quantity, held)
    start = datetime.combine(now.date(), time.min, tzinfo=UTC)
    ledger_pnl = h.service.ledger.realised_pnl_between(start, start + timedelta(days=1))
    # equal to 1e-12 of the quote asset (USDT has 8 decimals): the two sums add the same per-fill
    # figures in another order, and Decimal's 28 significant digits round the 25th decimal
    # differently (seen: ...411268 against ...411269)
    assert h.guard.snapshot(now).realised_pnl_today.quantize(PNL_QUANTUM) == ledger_pnl.quantize(PNL_QUANTUM)
    COUNTS["checks_full"] = COUNTS.get("checks_full", 0) + 1


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


async def check_resting(h: Harness, faulty: FaultyExchange, *, halted: bool) -> None:
    """At most one open order per symbol; the guard reserves exactly the open orders' open quantity;
    no open order while the kill switch is on; each planned order re-priced at most REPRICES times."""
    assert len(set(faulty.sent)) == len(faulty.sent), f"a client order id was sent twice: {faulty.sent}"
    open_now = await faulty.open_orders()
    symbols = [o.symbol for o in open_now]
    assert len(symbols) == len(set(symbols)), f"two open orders on one symbol: {open_now}"
    if halted:
        assert open_now == [], open_now
    with h.sessions() as session:
        rows = session.scalars(select(Order)).all()
    ledger_open = [o for o in rows if o.status in OPEN_STATES]
    if all(o.status in ("NEW", "PARTIALLY_FILLED") for o in ledger_open):
        held = sum((o.open_quantity * (o.price or D(0)) for o in open_now), D(0))
        assert h.guard.snapshot().turnover_pending == held
        assert {o.client_order_id for o in open_now} == {o.client_order_id for o in ledger_open}
    COUNTS["resting_open_seen"] = COUNTS.get("resting_open_seen", 0) + len(open_now)
    COUNTS["resting_maker_filled"] = sum(1 for o in rows if o.order_type == "LIMIT_MAKER" and o.executed_quantity > 0)
    COUNTS["resting_children"] = sum(1 for o in rows if o.parent_client_order_id)
    for root in {o.parent_client_order_id or o.client_order_id for o in rows}:
        makers = [
            o for o in rows if root in (o.client_order_id, o.parent_client_order_id) and o.order_type == "LIMIT_MAKER"
        ]
        assert len(makers) <= REPRICES + 1, [o.client_order_id for o in makers]


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
            await check_resting(h, faulty, halted=halted)
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
        await check_resting(h, faulty, halted=False)
        await check_invariants(h, faulty, clock(), seen)
    finally:
        h.close()


def teardown_module() -> None:
    print(f"\nfault property test: {COUNTS}")
