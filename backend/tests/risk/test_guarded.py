"""GuardedExchange: check → submit → record, refusals never reach the adapter, failures halt."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from backend.exchanges.base import (
    AccountSnapshot,
    Balance,
    Exchange,
    Fill,
    OrderRequest,
    OrderResult,
    OrderStatus,
)
from backend.exchanges.errors import (
    ExchangeError,
    OrderRejectedError,
    TemporaryExchangeError,
    UnknownOutcomeError,
)
from backend.risk.guard import AUTO_HALT_REASON
from backend.risk.guarded import GuardedExchange
from backend.risk.models import RiskRefused, RuleName
from backend.tests.risk.conftest import T0, HarnessFactory, context, order


class ScriptedExchange:
    """Fills every order at its reference price, or raises the next scripted error."""

    name = "scripted"

    def __init__(self) -> None:
        self.submitted: list[OrderRequest] = []
        self.errors: list[BaseException] = []

    async def account(self) -> AccountSnapshot:
        return AccountSnapshot(balances={"USDT": Balance("USDT", Decimal(10_000))}, taken_at=T0)

    async def submit_order(self, request: OrderRequest) -> OrderResult:
        self.submitted.append(request)
        if self.errors:
            raise self.errors.pop(0)
        price = request.reference_price or Decimal(100)
        return OrderResult(
            symbol=request.symbol,
            client_order_id=request.client_order_id,
            exchange_order_id=str(len(self.submitted)),
            status=OrderStatus.FILLED,
            side=request.side,
            requested_quantity=request.quantity,
            executed_quantity=request.quantity,
            quote_quantity=request.quantity * price,
            time=T0,
        )

    async def query_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        return None

    async def trades(self, symbol: str, since: datetime | None = None) -> list[Fill]:
        return []

    async def close(self) -> None:
        return None


def guarded_pair(make_harness: HarnessFactory, **env: Any) -> tuple[Any, ScriptedExchange, GuardedExchange]:
    harness = make_harness(**env)
    exchange = ScriptedExchange()
    assert isinstance(exchange, Exchange)
    return harness, exchange, GuardedExchange(exchange, harness.guard)


async def test_an_allowed_order_is_submitted_and_recorded_with_the_ledger_pnl(make_harness: HarnessFactory) -> None:
    h, exchange, guarded = guarded_pair(make_harness)
    seen: list[OrderResult] = []

    async def ledger(result: OrderResult) -> Decimal:
        # the reservation is still held while the ledger applies the fill
        assert h.guard.snapshot().pending_orders == 1
        seen.append(result)
        return Decimal("-12.5")

    result = await guarded.submit_order(order(side="SELL", quantity="2"), context(), realised_pnl=ledger)
    assert result.status is OrderStatus.FILLED
    assert len(exchange.submitted) == 1
    assert seen == [result]
    snapshot = h.guard.snapshot()
    assert (snapshot.trades_today, snapshot.realised_pnl_today, snapshot.pending_orders) == (1, Decimal("-12.5"), 0)
    assert snapshot.notional_today == Decimal(200)


async def test_a_sync_pnl_hook_works_too(make_harness: HarnessFactory) -> None:
    h, _exchange, guarded = guarded_pair(make_harness)
    await guarded.submit_order(order(side="SELL"), context(), realised_pnl=lambda _r: Decimal(3))
    assert h.guard.snapshot().realised_pnl_today == Decimal(3)


@pytest.mark.parametrize(
    ("kwargs", "ctx_kwargs", "rule"),
    [
        ({"price": Decimal("NaN")}, {}, RuleName.PRICE_SANITY),
        ({"quantity": "11"}, {}, RuleName.NOTIONAL_PER_TRADE),
        ({}, {"age_seconds": 3600}, RuleName.PRICE_SANITY),
    ],
)
async def test_a_refused_order_never_reaches_the_adapter(
    make_harness: HarnessFactory, kwargs: dict[str, Any], ctx_kwargs: dict[str, Any], rule: RuleName
) -> None:
    _h, exchange, guarded = guarded_pair(make_harness)
    with pytest.raises(RiskRefused) as refused:
        await guarded.submit_order(order(**kwargs), context(**ctx_kwargs))
    assert refused.value.decision.rule is rule
    assert exchange.submitted == []


async def test_kill_switch_set_elsewhere_is_seen_before_the_next_order(make_harness: HarnessFactory) -> None:
    """Another replica (a second guard on the same store) halts: this one refreshes and refuses."""
    h, exchange, guarded = guarded_pair(make_harness)
    other = h.restart()
    other.set_kill_switch_sync(True, "halt from replica 2", "op")
    with pytest.raises(RiskRefused) as refused:
        await guarded.submit_order(order(side="SELL"), context())
    assert refused.value.decision.rule is RuleName.KILL_SWITCH
    assert "halt from replica 2" in refused.value.decision.reason
    assert exchange.submitted == []


async def test_consecutive_failures_halt_trading_and_a_success_resets_the_count(make_harness: HarnessFactory) -> None:
    audits: list[dict[str, Any]] = []
    h = make_harness(audit=lambda _b, a: audits.append(a), QT_RISK_HALT_AFTER_FAILURES="2")
    exchange = ScriptedExchange()
    guarded = GuardedExchange(exchange, h.guard)
    exchange.errors = [TemporaryExchangeError("502")]
    with pytest.raises(TemporaryExchangeError):
        await guarded.submit_order(order(), context())
    await guarded.submit_order(order(), context())  # success: count back to 0
    exchange.errors = [TemporaryExchangeError("502"), UnknownOutcomeError("timeout")]
    with pytest.raises(TemporaryExchangeError):
        await guarded.submit_order(order(), context())
    assert not h.guard.kill_switch_enabled()
    with pytest.raises(UnknownOutcomeError):
        await guarded.submit_order(order(), context())
    state = h.guard.kill_switch_state()
    assert (state.enabled, state.reason) == (True, AUTO_HALT_REASON)
    assert len(audits) == 1
    with pytest.raises(RiskRefused):
        await guarded.submit_order(order(side="SELL"), context())
    assert len(exchange.submitted) == 4


async def test_rejections_release_the_reservation_and_do_not_count_as_failures(make_harness: HarnessFactory) -> None:
    h, exchange, guarded = guarded_pair(make_harness, QT_RISK_HALT_AFTER_FAILURES="1")
    exchange.errors = [OrderRejectedError("Filter failure: LOT_SIZE", code=-1013)]
    with pytest.raises(OrderRejectedError):
        await guarded.submit_order(order(), context())
    assert h.guard.snapshot().pending_orders == 0
    assert not h.guard.kill_switch_enabled()


async def test_an_unknown_outcome_keeps_the_reservation_until_reconciled(make_harness: HarnessFactory) -> None:
    h, exchange, guarded = guarded_pair(make_harness, QT_MAX_GROSS_EXPOSURE="1000", QT_RISK_HALT_AFTER_FAILURES="0")
    exchange.errors = [UnknownOutcomeError("read timeout")]
    lost = order(quantity="6", reference_price="100")
    with pytest.raises(UnknownOutcomeError):
        await guarded.submit_order(lost, context())
    # it may have filled: the same exposure does not fit again
    with pytest.raises(RiskRefused):
        await guarded.submit_order(order(quantity="6"), context())
    found = await exchange.submit_order(lost)  # what reconciliation finds on the exchange
    assert await guarded.record_reconciled(lost, found, now=T0, realised_pnl=lambda _r: Decimal(0))
    assert h.guard.snapshot().pending_orders == 0


async def test_a_failing_pnl_hook_still_records_the_fill(make_harness: HarnessFactory) -> None:
    h, _exchange, guarded = guarded_pair(make_harness)

    def broken(_result: OrderResult) -> Decimal:
        raise ExchangeError("ledger down")

    with pytest.raises(ExchangeError):
        await guarded.submit_order(order(), context(), realised_pnl=broken)
    snapshot = h.guard.snapshot()
    assert (snapshot.trades_today, snapshot.pending_orders) == (1, 0)


async def test_reads_pass_through(make_harness: HarnessFactory) -> None:
    _h, _exchange, guarded = guarded_pair(make_harness)
    assert guarded.name == "scripted"
    assert (await guarded.account()).balances["USDT"].free == 10_000
    assert await guarded.query_order("ETHUSDT", "x") is None
    assert await guarded.trades("ETHUSDT") == []
    await guarded.close()


async def test_cancellation_during_submit_keeps_the_reservation(make_harness: HarnessFactory) -> None:
    h = make_harness()
    started = asyncio.Event()

    class Hanging(ScriptedExchange):
        async def submit_order(self, request: OrderRequest) -> OrderResult:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    guarded = GuardedExchange(Hanging(), h.guard)
    task = asyncio.create_task(guarded.submit_order(order(), context()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h.guard.snapshot().pending_orders == 1
