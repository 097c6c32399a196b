"""The guard: reservations under one lock, daily loss over the UTC day, persistence, halt, reset."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import OperationalError

from backend.amounts import exact_sum
from backend.exchanges.base import OrderSide
from backend.exchanges.errors import TemporaryExchangeError
from backend.risk.guard import AUTO_HALT_REASON, RiskGuard
from backend.risk.models import RiskStateUnavailable, RuleName, TradeRecord
from backend.risk.store import RiskStateStore
from backend.tests.risk.conftest import T0, Clock, HarnessFactory, context, order, risk_settings


def fill(client_order_id: str, pnl: str, *, side: str = "SELL", notional: str = "100", when: Any = T0) -> TradeRecord:
    return TradeRecord(
        client_order_id=client_order_id,
        symbol="ETHUSDT",
        side=OrderSide(side),
        quantity=Decimal(1),
        notional=Decimal(notional),
        realised_pnl=Decimal(pnl),
        time=when,
    )


def sample(harness: Any, name: str, **labels: str) -> float:
    value = harness.metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if value is None else value


def test_an_allowed_order_reserves_its_exposure_until_recorded(make_harness: HarnessFactory) -> None:
    h = make_harness(QT_MAX_GROSS_EXPOSURE="1000")
    first = order(quantity="6")
    assert h.guard.check(first, context())
    # the same exposure again does not fit while the first is in flight
    refused = h.guard.check(order(quantity="6"), context())
    assert refused.rule is RuleName.GROSS_EXPOSURE
    assert "1200.00" in refused.reason
    assert h.guard.snapshot().pending_orders == 1
    # once the fill is in the caller's positions, the same answer holds without the reservation
    h.guard.record_fill_sync(fill(first.client_order_id, "0", side="BUY", notional="600"))
    assert h.guard.snapshot().pending_orders == 0
    positions = {"ETHUSDT": Decimal(600)}
    assert h.guard.check(order(quantity="6"), context(positions=positions)).rule is RuleName.GROSS_EXPOSURE
    assert h.guard.check(order(quantity="4"), context(positions=positions))


def test_a_naive_clock_is_a_programming_error(make_harness: HarnessFactory) -> None:
    h = make_harness()
    with pytest.raises(ValueError, match="timezone-aware"):
        h.guard.check(order(), context(now=T0.replace(tzinfo=None)))


def test_a_released_order_frees_its_reservation(make_harness: HarnessFactory) -> None:
    h = make_harness(QT_MAX_GROSS_EXPOSURE="1000")
    first = order(quantity="6")
    assert h.guard.check(first, context())
    assert h.guard.release(first.client_order_id)
    assert not h.guard.release(first.client_order_id)
    assert h.guard.check(order(quantity="6"), context())


def test_rechecking_the_same_client_order_id_does_not_double_count(make_harness: HarnessFactory) -> None:
    h = make_harness(QT_MAX_GROSS_EXPOSURE="1000")
    again = order(quantity="6", client_order_id="cycle-1-ETHUSDT-BUY")
    assert h.guard.check(again, context())
    assert h.guard.check(again, context())
    assert h.guard.snapshot().pending_orders == 1


def test_unresolved_reservations_expire_after_an_hour(make_harness: HarnessFactory) -> None:
    h = make_harness(QT_MAX_GROSS_EXPOSURE="1000")
    assert h.guard.check(order(quantity="6"), context())
    later = T0 + timedelta(hours=1, seconds=1)
    assert h.guard.check(order(quantity="6"), context(now=later))


def test_fills_recorded_after_the_ledger_read_still_count(make_harness: HarnessFactory) -> None:
    """A cycle that read its ledger before another cycle's fill was recorded still sees that fill."""
    h = make_harness(QT_MAX_GROSS_EXPOSURE="1000")
    seq = h.guard.fill_sequence  # read before the (stale) ledger read: positions are empty
    first = order(quantity="6")
    assert h.guard.check(first, context())
    h.guard.record_fill_sync(fill(first.client_order_id, "0", side="BUY", notional="600"))
    stale = context(fill_sequence=seq)
    assert h.guard.check(order(quantity="6"), stale).rule is RuleName.GROSS_EXPOSURE
    assert h.guard.check(order(quantity="6"), context(fill_sequence=h.guard.fill_sequence))


async def test_many_concurrent_tasks_never_overfill_a_limit(make_harness: HarnessFactory) -> None:
    """64 tasks (on the loop and in threads) race for a gross limit that fits exactly 10 orders."""
    h = make_harness(QT_MAX_GROSS_EXPOSURE="1000", QT_MAX_NOTIONAL_PER_TRADE="1000")
    start = threading.Barrier(32)

    def in_thread(i: int) -> bool:
        start.wait()
        return h.guard.check(order(quantity="1", client_order_id=f"thread-{i}"), context()).allowed

    async def on_loop(i: int) -> bool:
        await asyncio.sleep(0)
        return h.guard.check(order(quantity="1", client_order_id=f"task-{i}"), context()).allowed

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = await asyncio.gather(
            *(loop.run_in_executor(pool, in_thread, i) for i in range(32)), *(on_loop(i) for i in range(32))
        )
    assert sum(results) == 10
    assert h.guard.snapshot().gross_exposure == Decimal(1000)
    assert sample(h, "risk_decisions_total", rule="none", outcome="allowed") == 10
    assert sample(h, "risk_decisions_total", rule="gross_exposure", outcome="refused") == 54


async def test_concurrent_check_and_record_keep_exposure_exact(make_harness: HarnessFactory) -> None:
    """Checks racing with records: every accepted order is either reserved or recorded, never lost."""
    h = make_harness(QT_MAX_GROSS_EXPOSURE="2000")
    seq = h.guard.fill_sequence

    async def cycle(i: int) -> bool:
        o = order(quantity="1", client_order_id=f"c-{i}")
        if not h.guard.check(o, context(fill_sequence=seq)):
            return False
        await h.guard.record_fill(fill(o.client_order_id, "0", side="BUY", notional="100"))
        return True

    results = await asyncio.gather(*(cycle(i) for i in range(40)))
    assert sum(results) == 20
    assert h.guard.snapshot().trades_today == 20


# realised PnL from an average cost has 28 significant digits; Decimal's default context rounds a
# sum of these three differently by grouping ((a + b) + c ends in ...892, a + (b + c) in ...891)
PNL_28_DIGITS = ("-488.3209613040138275398502017", "-3056.720850462994254815816154", "-33434.43489950095969289827256")


def test_the_days_realised_pnl_is_the_exact_sum_of_its_fills_in_any_order(make_harness: HarnessFactory) -> None:
    forward, backward = make_harness(), make_harness()
    for name, h, values in (("fwd", forward, PNL_28_DIGITS), ("bwd", backward, PNL_28_DIGITS[::-1])):
        for i, pnl in enumerate(values):
            h.guard.record_fill_sync(fill(f"{name}-{i}", pnl, when=T0 + timedelta(minutes=i)))
    exact = Decimal("-36979.4767112679677752539389157")
    assert exact_sum(Decimal(v) for v in PNL_28_DIGITS) == exact
    assert forward.guard.snapshot(now=T0).realised_pnl_today == exact
    assert backward.guard.snapshot(now=T0).realised_pnl_today == exact
    forward.guard.load()  # the day rebuilt from the store both harnesses share: all six fills
    assert forward.guard.snapshot(now=T0).realised_pnl_today == exact_sum((exact, exact))


def test_daily_loss_counts_only_the_current_utc_day(make_harness: HarnessFactory) -> None:
    clock = Clock(T0)
    h = make_harness(clock=clock, QT_MAX_DAILY_LOSS="100")
    h.guard.record_fill_sync(fill("loss-1", "-60"))
    assert h.guard.check(order(), context())
    h.guard.record_fill_sync(fill("loss-2", "-40", when=T0 + timedelta(minutes=5)))
    refused = h.guard.check(order(quantity="0.5"), context())
    assert refused.rule is RuleName.DAILY_LOSS
    assert "100.00" in refused.reason
    # a sale still passes: it lowers exposure
    assert h.guard.check(order(side="SELL"), context(positions={"ETHUSDT": Decimal(500)}))
    # a gain the same day brings the loss back under the limit
    h.guard.record_fill_sync(fill("gain", "10", when=T0 + timedelta(minutes=6)))
    assert h.guard.check(order(quantity="0.5"), context())
    # the next UTC day starts from zero
    midnight = T0.replace(hour=0, minute=0) + timedelta(days=1)
    assert h.guard.check(order(quantity="0.5"), context(now=midnight))
    assert h.guard.snapshot(now=T0).realised_pnl_today == Decimal("-90")
    assert h.guard.snapshot(now=midnight).realised_pnl_today == 0


def test_recording_is_idempotent_per_client_order_id(make_harness: HarnessFactory) -> None:
    h = make_harness()
    assert h.guard.record_fill_sync(fill("same", "-10"))
    assert not h.guard.record_fill_sync(fill("same", "-10"))
    assert h.guard.snapshot().realised_pnl_today == Decimal("-10")


def test_state_survives_a_restart(make_harness: HarnessFactory) -> None:
    clock = Clock(T0)
    h = make_harness(clock=clock, QT_MAX_DAILY_LOSS="100")
    h.guard.record_fill_sync(fill("loss", "-150"))
    h.guard.set_kill_switch_sync(True, "investigating", "operator-1")
    guard = h.restart()
    state = guard.kill_switch_state()
    assert (state.enabled, state.override, state.reason, state.actor) == (True, True, "investigating", "operator-1")
    assert state.updated_at == T0
    assert guard.snapshot().realised_pnl_today == Decimal("-150")
    assert guard.check(order(side="SELL"), context()).rule is RuleName.KILL_SWITCH
    guard.set_kill_switch_sync(False, "resolved", "operator-1")
    assert guard.check(order(quantity="0.1"), context()).rule is RuleName.DAILY_LOSS
    assert sample(h, "risk_kill_switch_enabled") == 0
    assert sample(h, "risk_daily_realised_pnl") == -150


@pytest.mark.parametrize(
    ("default", "override", "effective"),
    [(False, None, False), (True, None, True), (True, False, False), (False, True, True)],
)
def test_override_wins_over_the_default_until_reset_to_null(
    make_harness: HarnessFactory, default: bool, override: bool | None, effective: bool
) -> None:
    h = make_harness(QT_KILL_SWITCH=str(default).lower())
    state = h.guard.set_kill_switch_sync(override, "r", "a")
    assert (state.enabled, state.default, state.override) == (effective, default, override)
    assert h.guard.set_kill_switch_sync(None, "back", "a").enabled is default


def test_audit_hook_sees_before_and_after_and_can_veto(make_harness: HarnessFactory) -> None:
    h = make_harness()
    seen: list[tuple[dict[str, Any], dict[str, Any]]] = []
    h.guard.set_kill_switch_sync(True, "r1", "a", audit=lambda b, a: seen.append((b, a)))
    assert seen[0][0]["enabled"] is False
    assert seen[0][1]["enabled"] is True
    assert seen[0][1]["reason"] == "r1"

    def veto(_before: dict[str, Any], _after: dict[str, Any]) -> None:
        raise RuntimeError("audit log unavailable")

    with pytest.raises(RuntimeError):
        h.guard.set_kill_switch_sync(False, "r2", "a", audit=veto)
    assert h.guard.kill_switch_enabled()
    assert h.restart().kill_switch_enabled()


def test_consecutive_exchange_failures_turn_the_kill_switch_on(make_harness: HarnessFactory) -> None:
    audits: list[dict[str, Any]] = []
    h = make_harness(audit=lambda _b, a: audits.append(a), QT_RISK_HALT_AFTER_FAILURES="3")
    error = TemporaryExchangeError("503 from exchange")
    assert not h.guard.note_exchange_failure_sync(error)
    assert not h.guard.note_exchange_failure_sync(error)
    h.guard.note_exchange_success()
    assert not h.guard.note_exchange_failure_sync(error)
    assert not h.guard.note_exchange_failure_sync(error)
    assert h.guard.note_exchange_failure_sync(error)
    state = h.guard.kill_switch_state()
    assert (state.enabled, state.reason, state.actor) == (True, AUTO_HALT_REASON, "risk-guard")
    assert audits[0]["reason"] == AUTO_HALT_REASON
    assert "3 consecutive exchange failures" in audits[0]["detail"]
    assert h.restart().kill_switch_state().reason == AUTO_HALT_REASON


def test_automatic_halt_is_off_at_zero(make_harness: HarnessFactory) -> None:
    h = make_harness(QT_RISK_HALT_AFTER_FAILURES="0")
    for _ in range(10):
        assert not h.guard.note_exchange_failure_sync(TemporaryExchangeError("down"))
    assert not h.guard.kill_switch_enabled()


def test_reset_clears_trades_override_and_failures_but_not_in_flight_orders(make_harness: HarnessFactory) -> None:
    h = make_harness(QT_MAX_DAILY_LOSS="100", QT_MAX_GROSS_EXPOSURE="1000")
    h.guard.record_fill_sync(fill("loss", "-100"))
    h.guard.set_kill_switch_sync(True, "r", "a")
    h.guard.note_exchange_failure_sync(TemporaryExchangeError("x"))
    h.guard.set_kill_switch_sync(False, "r", "a")
    in_flight = order(quantity="6")
    # daily loss reached: refuse; after reset it passes
    assert h.guard.check(in_flight, context()).rule is RuleName.DAILY_LOSS
    snapshot = h.guard.reset_sync()
    assert snapshot.trades_today == 0
    assert snapshot.kill_switch.override is None
    assert snapshot.consecutive_exchange_failures == 0
    assert h.guard.check(in_flight, context())
    h.guard.reset_sync()
    assert h.guard.check(order(quantity="6"), context()).rule is RuleName.GROSS_EXPOSURE
    assert h.restart().snapshot().trades_today == 0


def test_an_unreachable_store_refuses_everything(make_harness: HarnessFactory) -> None:
    h = make_harness()
    h.guard.mark_unavailable(OSError("disk gone"))
    assert h.guard.kill_switch_enabled()
    decision = h.guard.check(order(), context())
    assert decision.rule is RuleName.KILL_SWITCH
    assert "disk gone" in decision.reason
    # the store is actually fine: the next refresh clears the error
    h.guard.refresh_sync()
    assert not h.guard.kill_switch_enabled()


def test_a_broken_store_makes_writes_fail_loudly(tmp_path: Path) -> None:
    broken = RiskStateStore("sqlite://", engine=create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}"))
    guard = RiskGuard(broken, lambda: risk_settings(), clock=Clock())
    with pytest.raises(OperationalError):
        guard.load()
    with pytest.raises(RiskStateUnavailable):
        guard.refresh_sync()
    with pytest.raises(RiskStateUnavailable):
        guard.set_kill_switch_sync(False, "r", "a")
    with pytest.raises(RiskStateUnavailable):
        guard.record_fill_sync(fill("f", "-1"))
    assert guard.check(order(), context()).rule is RuleName.KILL_SWITCH
    assert guard.snapshot().state_store_error is not None
    broken.close()


def test_snapshot_reports_exposure_and_loss_budget(make_harness: HarnessFactory) -> None:
    h = make_harness(QT_MAX_DAILY_LOSS="500")
    h.guard.record_fill_sync(fill("l", "-120.5"))
    assert h.guard.check(order("BTCUSDT", quantity="0.01", price="30000"), context(reference="30000"))
    h.guard.check(order("ETHUSDT", quantity="1"), context(positions={"ETHUSDT": Decimal(250), "SOLUSDT": Decimal(-5)}))
    snap = h.guard.snapshot()
    assert snap.loss_budget_left == Decimal("379.5")
    assert snap.exposure_by_symbol == {"BTCUSDT": Decimal(300), "ETHUSDT": Decimal(350), "SOLUSDT": Decimal(-5)}
    assert snap.gross_exposure == Decimal(655)
    assert snap.pending_orders == 2
    assert sample(h, "risk_gross_exposure") == 655
