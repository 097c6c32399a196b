"""For the fault property tests: the exchange wrapper that injects faults and the invariants checked each step.

Used by backend/tests/execution/test_fault_property.py (see its docstring for the faults and the
invariants). ``COUNTS`` tallies what the runs exercised; the test module prints it at the end.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from backend.exchanges.base import AccountSnapshot, Exchange, Fill, OrderRequest, OrderResult
from backend.exchanges.errors import UnknownOutcomeError
from backend.execution.ledger import OPEN_STATES
from backend.tests.execution.fakes import FakeMarket
from backend.tests.execution.harness import Harness
from database.models.execution import Order, PaperOrder

D = Decimal
LIMIT_TRADE, LIMIT_POSITION = D(3000), D(5000)
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
    # to the last digit: both are exact sums of the same per-fill figures (backend.amounts.exact_sum)
    assert h.guard.snapshot(now).realised_pnl_today == ledger_pnl
    COUNTS["checks_full"] = COUNTS.get("checks_full", 0) + 1


async def check_resting(h: Harness, faulty: FaultyExchange, *, halted: bool, reprices: int) -> None:
    """At most one open order per symbol; the guard reserves exactly the open orders' open quantity;
    no open order while the kill switch is on; each planned order re-priced at most `reprices` times."""
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
        assert len(makers) <= reprices + 1, [o.client_order_id for o in makers]
