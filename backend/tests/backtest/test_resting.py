"""The backtest runs the `execution-resting` job's check between rebalance cycles, at the job's
cadence on the backtest clock: a maker order that times out is finished with limit_ioc before the
next rebalance, a sliced order's children go out on their TWAP schedule, and a resting order fills
from a later bar that trades through its price."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from backend.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from backend.tests.backtest.factories import START, backtest_settings, replay
from backend.tests.backtest.trend import HOUR, SYMBOL, write_trend

FIRST = START + timedelta(days=1)
QUARTER = timedelta(minutes=15)


def run(
    folder: Path, tmp_path: Path, execution: dict[str, str], *, bars: int = 8, step: timedelta = HOUR
) -> BacktestResult:
    data, clock = replay(folder, FIRST)
    config = BacktestConfig(
        start=FIRST, end=FIRST + step * bars, symbols=(SYMBOL,), rebalance_bars=4, liquidity_bars=4, baselines=()
    )
    return run_backtest(config, data, clock, settings=backtest_settings(tmp_path, execution=execution))


def times(result: BacktestResult) -> dict[str, datetime]:
    return {o["client_order_id"]: o["time"] for o in result.books["strategy"].orders}


MAKER = {
    "QT_EXECUTION_ORDER_STYLE": "maker_first",
    "QT_EXECUTION_MAKER_TIMEOUT_SECONDS": "3600",
    "QT_EXECUTION_MAKER_REPRICES": "0",
}


@pytest.mark.parametrize(
    ("check_seconds", "finished_after"),
    [
        ("15", QUARTER),  # the job's default cadence: every bar of the backtest clock
        ("1800", 2 * QUARTER),  # every other bar: the timeout is seen at the job's next firing
    ],
)
def test_a_maker_order_that_times_out_is_finished_by_limit_ioc_at_the_jobs_next_check(
    tmp_path: Path, check_seconds: str, finished_after: timedelta
) -> None:
    # 15-minute bars, a rebalance every hour, the maker order's timeout one bar
    settings = {
        **MAKER,
        "QT_EXECUTION_MAKER_TIMEOUT_SECONDS": "900",
        "QT_EXECUTION_RESTING_CHECK_SECONDS": check_seconds,
    }
    result = run(write_trend(tmp_path / "m", step=QUARTER), tmp_path, settings, step=QUARTER)
    book = result.books["strategy"]
    maker = book.orders[0]
    assert (maker["time"], maker["status"], maker["executed_quantity"]) == (FIRST, "CANCELED", Decimal(0))
    taker = next(o for o in book.orders if o["client_order_id"] == f"{maker['client_order_id']}-t")
    assert taker["time"] == FIRST + finished_after
    assert taker["status"] == "FILLED"
    assert {f["time"] for f in book.fills if f["client_order_id"] == taker["client_order_id"]} == {taker["time"]}
    # the equity curve holds the position from the check that bought it, not from the next cycle
    [point] = [p for p in book.equity if p.time == taker["time"]]
    assert point.gross_exposure > 0
    assert all(p.gross_exposure == 0 for p in book.equity if p.time < taker["time"])


def test_a_sliced_order_sends_its_children_between_rebalances_on_the_twap_schedule(tmp_path: Path) -> None:
    # 10,000 of cash into one symbol, slices of at most 2,600: four slices over the 4-bar rebalance
    # interval (the TWAP window), one due each bar
    settings = {"QT_EXECUTION_ORDER_STYLE": "market", "QT_EXECUTION_SLICE_NOTIONAL": "2600"}
    result = run(write_trend(tmp_path / "m"), tmp_path, settings, bars=5)
    sent = times(result)
    parent = next(o for o in result.books["strategy"].orders if o["status"] == "SLICED")
    coid = parent["client_order_id"]
    assert parent["time"] == FIRST
    assert [sent[f"{coid}-s{k}"] for k in (1, 2, 3, 4)] == [FIRST + HOUR * k for k in range(4)]
    assert f"{coid}-s5" not in sent
    fills = [f for f in result.books["strategy"].fills if f["client_order_id"].startswith(f"{coid}-s")]
    assert [f["time"] for f in fills] == [FIRST + HOUR * k for k in range(4)]


def test_a_resting_maker_order_fills_from_a_later_bar_that_trades_through_it(tmp_path: Path) -> None:
    # bar 25 (closing two hours after the first visit) dips 1 % below its open: it trades through
    # the resting buy, while the book (around the closes, which only go up) never reaches it
    folder = write_trend(tmp_path / "m", dips={25: 0.99})
    settings = {**MAKER, "QT_EXECUTION_MAKER_TIMEOUT_SECONDS": "36000", "QT_PAPER_FILL_VOLUME_SHARE": "0.5"}
    result = run(folder, tmp_path, settings)
    book = result.books["strategy"]
    maker = book.orders[0]
    assert (maker["status"], maker["time"]) == ("FILLED", FIRST)
    [fill] = [f for f in book.fills if f["client_order_id"] == maker["client_order_id"]]
    assert fill["time"] == FIRST + 2 * HOUR  # at the job's check after that bar closed, before the next cycle
    assert fill["quantity"] == maker["requested_quantity"]
