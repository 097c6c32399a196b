"""The account-wide protections on a real guard and state store: symbol cooldown after a loss-making
sale, the daily turnover cap, and the equity drawdown halt (one halt per breach, buys refused)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from backend.exchanges.base import OrderSide
from backend.risk.guard import DRAWDOWN_HALT_REASON
from backend.risk.models import RuleName, TradeRecord
from backend.risk.protections import DrawdownReading
from backend.tests.risk.conftest import T0, Clock, HarnessFactory, context, order

D = Decimal


def execution(
    coid: str, *, symbol: str = "ETHUSDT", side: str = "SELL", notional: str = "100", pnl: str = "0", when: Any = T0
) -> TradeRecord:
    return TradeRecord(
        client_order_id=coid,
        symbol=symbol,
        side=OrderSide(side),
        quantity=D(1),
        notional=D(notional),
        realised_pnl=D(pnl),
        time=when,
    )


def sample(harness: Any, name: str, **labels: str) -> float:
    value = harness.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


def test_a_loss_making_sale_cools_the_symbol_down_for_buys_only(make_harness: HarnessFactory) -> None:
    clock = Clock()
    h = make_harness(clock=clock, QT_SYMBOL_COOLDOWN_MINUTES="30")
    h.guard.record_fill_sync(execution("exit-1", pnl="-12.5", when=clock.now))
    refused = h.guard.check(order("ETHUSDT", "BUY"), context(now=clock.now))
    assert refused.rule is RuleName.SYMBOL_COOLDOWN
    assert "no buy before 2026-03-02T12:30:00+00:00" in refused.reason
    assert sample(h, "risk_decisions_total", rule="symbol_cooldown", outcome="refused") == 1
    # another symbol, and selling the cooled one, are untouched
    assert h.guard.check(
        order("BTCUSDT", "BUY", reference_price="50000", price="50000", quantity="0.001"),
        context(now=clock.now, reference="50000"),
    )
    assert h.guard.check(order("ETHUSDT", "SELL"), context(now=clock.now))
    assert h.guard.snapshot().cooling_down == {"ETHUSDT": T0 + timedelta(minutes=30)}
    # the cooldown survives a restart (the executions are in the state store)
    h.restart()
    assert (
        h.guard.check(order("ETHUSDT", "BUY"), context(now=clock.now + timedelta(minutes=29))).rule
        is RuleName.SYMBOL_COOLDOWN
    )
    clock.advance(minutes=30)
    assert h.guard.check(order("ETHUSDT", "BUY"), context(now=clock.now))
    assert h.guard.snapshot().cooling_down == {}


def test_a_profitable_sale_or_a_disabled_cooldown_holds_nothing_back(make_harness: HarnessFactory) -> None:
    h = make_harness(QT_SYMBOL_COOLDOWN_MINUTES="30")
    h.guard.record_fill_sync(execution("exit-win", pnl="4"))
    h.guard.record_fill_sync(execution("buy-loss", side="BUY", pnl="-1"))  # a purchase is no exit
    assert h.guard.check(order("ETHUSDT", "BUY"), context())
    off = make_harness(QT_SYMBOL_COOLDOWN_MINUTES="0")
    off.guard.record_fill_sync(execution("exit-2", pnl="-50"))
    assert off.guard.check(order("ETHUSDT", "BUY"), context())


def test_reset_ends_every_cooldown(make_harness: HarnessFactory) -> None:
    h = make_harness(QT_SYMBOL_COOLDOWN_MINUTES="60")
    h.guard.record_fill_sync(execution("exit-3", pnl="-1"))
    assert h.guard.check(order(), context()).rule is RuleName.SYMBOL_COOLDOWN
    h.guard.reset_sync()
    assert h.guard.check(order(), context())


def test_daily_turnover_counts_sales_pending_orders_and_restarts_each_utc_day(make_harness: HarnessFactory) -> None:
    clock = Clock()
    h = make_harness(clock=clock, QT_MAX_DAILY_TURNOVER="1000")
    h.guard.record_fill_sync(execution("s-1", side="SELL", notional="400", when=clock.now))
    h.guard.record_fill_sync(execution("b-1", side="BUY", notional="300", when=clock.now))
    in_flight = order("ETHUSDT", "BUY", quantity="2")  # 200 at 100
    assert h.guard.check(in_flight, context())
    # 400 + 300 recorded + 200 pending + 200 asked = 1100 > 1000, a sale as well as a buy
    for side in ("BUY", "SELL"):
        refused = h.guard.check(order("ETHUSDT", side, quantity="2"), context())
        assert refused.rule is RuleName.DAILY_TURNOVER, side
        assert "1100.00" in refused.reason
    assert h.guard.check(order("ETHUSDT", "SELL", quantity="1"), context())  # exactly 1000 fits
    assert h.guard.snapshot().turnover_pending == D(300)
    assert sample(h, "risk_daily_turnover") == 700.0
    # the next UTC day starts from nothing
    clock.now = T0.replace(hour=0) + timedelta(days=1, minutes=1)
    assert h.guard.check(order("ETHUSDT", "BUY", quantity="8"), context(now=clock.now))


def reading(equity: str, high: str = "10000") -> DrawdownReading:
    return DrawdownReading(
        window_start=T0 - timedelta(days=30),
        high_water=D(high),
        high_water_at=T0 - timedelta(days=2),
        equity=D(equity),
        as_of=T0,
    )


def test_a_drawdown_breach_halts_once_and_refuses_buys_while_it_lasts(make_harness: HarnessFactory) -> None:
    audits: list[tuple[dict[str, Any], dict[str, Any]]] = []
    h = make_harness(audit=lambda before, after: audits.append((before, after)), QT_MAX_DRAWDOWN_PCT="10")
    assert not h.guard.note_drawdown_sync(reading("9500"))  # 5 %: fine
    assert h.guard.check(order(), context())
    assert sample(h, "risk_equity_drawdown_percent") == 5.0

    assert h.guard.note_drawdown_sync(reading("8800"))  # 12 %: halt
    state = h.guard.kill_switch_state()
    assert state.enabled
    assert state.reason == DRAWDOWN_HALT_REASON
    assert state.actor == "risk-guard"
    assert "12.0000% below its high-water mark 10000.00" in audits[-1][1]["detail"]
    assert sample(h, "risk_protection_halts_total", protection="equity_drawdown") == 1
    # the operator looks and turns trading back on: the same episode does not halt again, but buys
    # stay refused by the rule while the breach lasts (sales are how the book gets smaller)
    h.guard.set_kill_switch_sync(False, "looked at it", "operator")
    assert not h.guard.note_drawdown_sync(reading("8700"))
    assert not h.guard.kill_switch_enabled()
    refused = h.guard.check(order(), context())
    assert refused.rule is RuleName.EQUITY_DRAWDOWN
    assert "the drawdown limit is 10%" in refused.reason
    assert h.guard.check(order(side="SELL"), context())
    # recovery re-arms it; the next breach halts again
    assert not h.guard.note_drawdown_sync(reading("9900"))
    assert h.guard.check(order(), context())
    assert h.guard.note_drawdown_sync(reading("8000"))
    assert h.guard.kill_switch_enabled()
    assert sample(h, "risk_protection_halts_total", protection="equity_drawdown") == 2


def test_the_drawdown_protection_is_off_without_a_limit(make_harness: HarnessFactory) -> None:
    h = make_harness()
    assert not h.guard.note_drawdown_sync(reading("1000"))  # 90 % down, no limit set
    assert not h.guard.kill_switch_enabled()
    assert h.guard.check(order(), context())
