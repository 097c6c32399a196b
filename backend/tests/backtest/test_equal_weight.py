"""equal_weight's equity recomputed independently from the bar files and the fee model, to the cent."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from backend.backtest.clock import BacktestClock
from backend.backtest.data import open_replay
from backend.backtest.engine import BacktestConfig, run_backtest
from backend.tests.backtest.factories import START, backtest_settings, write_market

CENT = Decimal("0.01")
FEE_BPS = Decimal(10)


def closes(folder: Path) -> dict[str, dict[datetime, Decimal]]:
    """Close of every bar, keyed by the time the bar closes (when it becomes visible)."""
    out: dict[str, dict[datetime, Decimal]] = {}
    for path in folder.glob("*.csv"):
        with path.open() as handle:
            out[path.stem] = {
                datetime.fromtimestamp(int(row["open_time"]) / 1000, UTC) + timedelta(hours=1): Decimal(row["close"])
                for row in csv.DictReader(handle)
            }
    return out


def test_equal_weight_equity_matches_an_independent_recomputation(tmp_path: Path) -> None:
    _check_equal_weight(tmp_path, market_bars=1)


def test_the_curve_is_marked_at_every_close_when_the_market_cache_lags(tmp_path: Path) -> None:
    """--market-bars 3: the strategy trades on a market cache up to three bars old, but every point
    of the curve (the last included) values the books at that bar's close."""
    _check_equal_weight(tmp_path, market_bars=3)


def _check_equal_weight(tmp_path: Path, *, market_bars: int) -> None:
    folder = write_market(tmp_path / "m")
    first, last = START + timedelta(days=1), START + timedelta(hours=71)
    clock = BacktestClock(first)
    # no spread and no slippage: every order fills at the close the market showed; the fee is the only cost
    data = open_replay(folder, clock, spread_bps=0)
    config = BacktestConfig(
        start=first,
        end=last,
        fee_bps=FEE_BPS,
        slippage_bps=Decimal(0),
        baselines=("equal_weight",),
        market_bars=market_bars,
    )
    result = run_backtest(config, data, clock, settings=backtest_settings(tmp_path))
    book = result.books["equal_weight"]
    assert len({f["symbol"] for f in book.fills}) == 4
    assert any(f["side"] == "SELL" for f in book.fills)  # rebalanced, not only bought

    bars = closes(folder)
    rate = FEE_BPS / 10_000
    cash = result.starting_cash
    held: dict[str, Decimal] = {}
    fills = sorted(book.fills, key=lambda f: f["time"])
    i = 0
    for point in book.equity[1:]:
        while i < len(fills) and fills[i]["time"] <= point.time:
            f = fills[i]
            # the close of the bar the market last showed: this one, or up to market_bars - 1 before
            shown = [bars[f["symbol"]][f["time"] - k * timedelta(hours=1)] for k in range(market_bars)]
            assert f["price"] in shown
            price = f["price"]
            qty = f["quantity"]
            if f["side"] == "BUY":
                fee = (qty * rate).quantize(Decimal("1e-8"), rounding=ROUND_HALF_UP)  # in the base asset
                cash -= qty * price
                held[f["symbol"]] = held.get(f["symbol"], Decimal(0)) + qty - fee
            else:
                fee = (qty * price * rate).quantize(Decimal("1e-8"), rounding=ROUND_HALF_UP)  # in the quote asset
                cash += qty * price - fee
                held[f["symbol"]] -= qty
            assert f["fee"] == fee
            i += 1
        equity = cash + sum((q * bars[s][point.time] for s, q in held.items()), Decimal(0))
        assert equity.quantize(CENT) == point.equity.quantize(CENT), point.time
        assert cash.quantize(CENT) == point.cash.quantize(CENT)
    assert i == len(fills)
