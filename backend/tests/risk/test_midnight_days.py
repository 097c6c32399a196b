"""The guard's daily figures count each fill of an order on the UTC day of that fill: realised PnL
toward QT_MAX_DAILY_LOSS and daily turnover, live and after a restart, as the ledger counts them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from backend.exchanges.base import Fill, OrderRequest, OrderResult, OrderSide, OrderStatus, OrderType
from backend.risk.guard import RiskGuard
from backend.risk.models import TradeRecord
from backend.tests.risk.conftest import Clock, HarnessFactory

DAY_1 = datetime(2026, 11, 25, tzinfo=UTC)
DAY_2 = DAY_1 + timedelta(days=1)
BEFORE_MIDNIGHT = DAY_2 - timedelta(minutes=1)  # 23:59
AFTER_MIDNIGHT = DAY_2 + timedelta(seconds=30)  # 00:00:30
COID = "qt-7-ETHUSDT-S"
SALE = OrderRequest("ETHUSDT", OrderSide.SELL, Decimal(4), COID, OrderType.LIMIT_MAKER, price=Decimal("960.10"))


def _fill(trade_id: str, when: datetime, quantity: str, price: str = "960.10") -> Fill:
    return Fill(trade_id, "ETHUSDT", OrderSide.SELL, Decimal(price), Decimal(quantity), Decimal(0), "USDT", when)


def _answer(fills: Sequence[Fill], *, quantity: str | None = None, at: datetime | None = None) -> OrderResult:
    """The order's state: cumulative figures, the fills listed (or none: a Binance order lookup)."""
    executed = Decimal(quantity) if quantity is not None else sum((f.quantity for f in fills), Decimal(0))
    quote = sum((f.price * f.quantity for f in fills), Decimal(0)) if fills else executed * Decimal("960.10")
    return OrderResult(
        "ETHUSDT",
        COID,
        "1",
        OrderStatus.FILLED if executed == SALE.quantity else OrderStatus.PARTIALLY_FILLED,
        OrderSide.SELL,
        SALE.quantity,
        executed,
        quote,
        tuple(fills),
        time=at or max(f.time for f in fills),
    )


async def _record(guard: RiskGuard, answer: OrderResult, pnl: str) -> bool:
    """One look at the resting order: its answer and the ledger's realised PnL of all its fills."""
    now = answer.time or AFTER_MIDNIGHT
    return await guard.record_result(SALE, answer, realised_pnl=Decimal(pnl), now=now)


def _day_figures(guard: RiskGuard, day: datetime) -> tuple[Decimal, Decimal]:
    snapshot = guard.snapshot(day + timedelta(hours=12))
    return snapshot.realised_pnl_today, snapshot.notional_today


async def test_a_profitable_part_before_midnight_does_not_enlarge_the_next_days_loss_budget(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(clock=Clock(AFTER_MIDNIGHT), QT_MAX_DAILY_LOSS="100")
    first = _fill("1", BEFORE_MIDNIGHT, "2")
    assert await _record(harness.guard, _answer([first]), "50")  # +50 at 23:59
    await _record(harness.guard, _answer([first, _fill("2", AFTER_MIDNIGHT, "2")]), "-30")  # -80 at 00:00:30
    for guard in (harness.guard, harness.restart()):
        assert _day_figures(guard, DAY_2)[0] == Decimal(-80)  # not -30
        assert guard.snapshot(AFTER_MIDNIGHT).loss_budget_left == Decimal(20)  # not 70
        assert _day_figures(guard, DAY_1)[0] == Decimal(50)


async def test_daily_turnover_counts_each_fill_on_the_day_it_filled(make_harness: HarnessFactory) -> None:
    harness = make_harness(clock=Clock(AFTER_MIDNIGHT))
    first = _fill("1", BEFORE_MIDNIGHT, "2")
    await _record(harness.guard, _answer([first]), "-82.72")
    await _record(harness.guard, _answer([first, _fill("2", AFTER_MIDNIGHT, "1.5", "960.20")]), "-145.00")
    for guard in (harness.guard, harness.restart()):
        assert _day_figures(guard, DAY_1) == (Decimal("-82.72"), Decimal("1920.20"))
        assert _day_figures(guard, DAY_2) == (Decimal("-62.28"), Decimal("1440.300"))
        assert guard.snapshot(AFTER_MIDNIGHT).trades_today == 1


async def test_an_answer_without_fills_dates_what_executed_since_the_last_record_at_its_time(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(clock=Clock(AFTER_MIDNIGHT))
    await _record(harness.guard, _answer([], quantity="2", at=BEFORE_MIDNIGHT), "-82.72")
    await _record(harness.guard, _answer([], quantity="4", at=AFTER_MIDNIGHT), "-165.44")
    assert _day_figures(harness.guard, DAY_1) == (Decimal("-82.72"), Decimal("1920.20"))
    assert _day_figures(harness.guard, DAY_2) == (Decimal("-82.72"), Decimal("1920.20"))


async def test_one_look_finding_fills_on_both_sides_of_midnight_splits_their_pnl_by_quantity(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(clock=Clock(AFTER_MIDNIGHT))
    fills = [_fill("1", DAY_2 - timedelta(seconds=10), "1"), _fill("2", DAY_2 + timedelta(seconds=10), "3")]
    await _record(harness.guard, _answer(fills, at=AFTER_MIDNIGHT), "-120")  # one price: 30 lost per ETH
    assert _day_figures(harness.guard, DAY_1) == (Decimal(-30), Decimal("960.10"))
    assert _day_figures(harness.guard, DAY_2) == (Decimal(-90), Decimal("2880.30"))


def test_the_restore_puts_the_ledgers_days_in_place_of_a_whole_order_dated_at_its_last_fill(
    make_harness: HarnessFactory,
) -> None:
    harness = make_harness(clock=Clock(AFTER_MIDNIGHT))
    guard = harness.guard

    def record(when: datetime, pnl: str, *, later_day: bool = False) -> TradeRecord:
        return TradeRecord(
            COID, "ETHUSDT", OrderSide.SELL, Decimal(2), Decimal("1920.20"), Decimal(pnl), when, later_day
        )

    # what the guard recorded before the fix: the whole order, on the day of its last fill
    whole = TradeRecord(
        COID, "ETHUSDT", OrderSide.SELL, Decimal(4), Decimal("3840.40"), Decimal("-165.44"), AFTER_MIDNIGHT
    )
    assert guard.record_fill_sync(whole)
    ledger_days = [record(BEFORE_MIDNIGHT, "-82.72"), record(AFTER_MIDNIGHT, "-82.72", later_day=True)]
    assert guard.restore_trades_sync(ledger_days) == 2
    assert guard.restore_trades_sync(ledger_days) == 0  # agrees now
    for restarted in (guard, harness.restart()):
        assert _day_figures(restarted, DAY_1) == (Decimal("-82.72"), Decimal("1920.20"))
        assert _day_figures(restarted, DAY_2) == (Decimal("-82.72"), Decimal("1920.20"))
    # a day the ledger's order does not have (the guard dated a part wrongly) is deleted
    assert harness.guard.restore_trades_sync(ledger_days[:1]) == 1
    assert _day_figures(harness.guard, DAY_2) == (Decimal(0), Decimal(0))
    assert _day_figures(harness.restart(), DAY_2) == (Decimal(0), Decimal(0))
