"""GuardedExchange.record_reconciled: an order found by lookup has its fill price checked like an
answered one, against the reference it was planned with, once per new execution."""

from __future__ import annotations

from decimal import Decimal

from backend.exchanges.base import OrderResult, OrderSide, OrderStatus
from backend.risk.guarded import GuardedExchange
from backend.tests.risk.conftest import T0, HarnessFactory, order
from backend.tests.risk.test_guarded import ScriptedExchange

D = Decimal


def found(client_order_id: str, executed: str, average: str, status: OrderStatus) -> OrderResult:
    qty = D(executed)
    return OrderResult(
        symbol="ETHUSDT",
        client_order_id=client_order_id,
        exchange_order_id="1",
        status=status,
        side=OrderSide.BUY,
        requested_quantity=D(2),
        executed_quantity=qty,
        quote_quantity=qty * D(average),
        time=T0,
    )


async def test_a_found_fill_at_3240_32_against_a_planned_3000_halts_and_one_at_3100_does_not(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(QT_MAX_PRICE_DEVIATION_PCT="5", QT_MAX_NOTIONAL_PER_TRADE="100000")
    guarded = GuardedExchange(ScriptedExchange(), h.guard)
    near = order(quantity="2", reference_price="3000")
    await guarded.record_reconciled(near, found(near.client_order_id, "2", "3100", OrderStatus.FILLED), now=T0)
    assert not h.guard.kill_switch_enabled()  # 3.33 % from 3000: inside the 5 % bound
    away = order(quantity="2", reference_price="3000")
    await guarded.record_reconciled(away, found(away.client_order_id, "2", "3240.32", OrderStatus.FILLED), now=T0)
    state = h.guard.kill_switch_state()
    assert (state.enabled, state.actor) == (True, "risk-guard")
    assert state.reason is not None
    assert "fill price 3240.32000000" in state.reason
    assert "deviates 8.01% from the reference 3000" in state.reason
    assert h.guard.snapshot().trades_today == 2  # both fills are recorded: they happened


async def test_a_resting_order_found_again_without_new_fills_does_not_halt_again_after_an_operator_resumed(
    make_harness: HarnessFactory,
) -> None:
    h = make_harness(QT_MAX_PRICE_DEVIATION_PCT="5", QT_MAX_NOTIONAL_PER_TRADE="100000")
    guarded = GuardedExchange(ScriptedExchange(), h.guard)
    resting = order(quantity="2", reference_price="3000")
    coid = resting.client_order_id
    partial = found(coid, "1", "3240.32", OrderStatus.PARTIALLY_FILLED)
    await guarded.record_reconciled(resting, partial, now=T0)
    assert h.guard.kill_switch_enabled()
    h.guard.set_kill_switch_sync(False, "reviewed", "operator")
    # the next check finds it again, the same 1 of 2 executed (the ledger recorded 1 already)
    await guarded.record_reconciled(resting, partial, now=T0, recorded_quantity=D(1))
    assert not h.guard.kill_switch_enabled()
    # it executes more at a price still 8 % away: checked again, halts again
    more = found(coid, "2", "3240.32", OrderStatus.FILLED)
    await guarded.record_reconciled(resting, more, now=T0, recorded_quantity=D(1))
    assert h.guard.kill_switch_enabled()
