"""The engine: the live trading path on the backtest clock, no look-ahead, clear input errors."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pytest

from backend.backtest.clock import BacktestClock
from backend.backtest.data import BacktestInputError, open_replay
from backend.backtest.engine import BacktestConfig, BacktestResult, run_backtest
from backend.tests.backtest.factories import START, backtest_settings, replay, write_market

FIRST = START + timedelta(days=1)
LAST = START + timedelta(hours=71)


def run(folder: Path, tmp_path: Path, **config: object) -> BacktestResult:
    data, clock = replay(folder, FIRST)
    cfg = BacktestConfig(start=FIRST, end=LAST, **config)  # type: ignore[arg-type]
    return run_backtest(cfg, data, clock, settings=backtest_settings(tmp_path))


def decisions_until(result: BacktestResult, cut: object) -> dict[str, object]:
    """Everything decided at or before ``cut``: selections, orders, fills, skips, equity."""
    out: dict[str, object] = {
        "selections": [(s.time, s.weights, s.mode) for s in result.selections if s.time <= cut],  # type: ignore[operator]
    }
    for name, book in result.books.items():
        out[name] = (
            [o for o in book.orders if o["time"] <= cut],
            [f for f in book.fills if f["time"] <= cut],
            [s for s in book.skipped if s["time"] <= cut],
            [p for p in book.equity if p.time <= cut],
        )
    return out


def test_a_run_trades_every_book_on_the_live_path(tmp_path: Path) -> None:
    result = run(write_market(tmp_path / "m"), tmp_path)
    assert result.bars == 48
    assert result.candles == 48 * 4
    assert set(result.books) == {"strategy", "equal_weight", "liquidity_only", "hold_first"}
    for name, book in result.books.items():
        assert book.fills, name
        assert book.equity[0].time == FIRST - timedelta(hours=1)
        assert book.equity[0].equity == book.equity[0].cash == Decimal(10_000)
        assert book.equity[-1].time == LAST
        assert all(f["time"] >= FIRST for f in book.fills)
    # no model: the strategy is the liquidity-only blend, order for order
    assert result.books["strategy"].fills == result.books["liquidity_only"].fills
    assert {f["symbol"] for f in result.books["hold_first"].fills} == {"DDDUSDT"}  # the most liquid
    assert set(result.net_returns()) == set(result.books)


def test_no_look_ahead_changing_every_bar_after_t_changes_nothing_up_to_t(tmp_path: Path) -> None:
    cut = START + timedelta(hours=45)
    rng = np.random.default_rng(3)
    cut_ms = int(cut.timestamp() * 1000)

    def future_shock(open_ms: int, row: list[float]) -> list[float]:
        if open_ms < cut_ms:  # bars opened before t are closed (visible) at t: unchanged
            return row
        factor = float(rng.uniform(0.5, 1.5))
        return [row[0] * factor, row[1] * factor * 1.1, row[2] * factor * 0.9, row[3] * factor, row[4] * 7]

    base = run(write_market(tmp_path / "a"), tmp_path / "ra")
    shocked = run(write_market(tmp_path / "b", mutate=future_shock), tmp_path / "rb")
    assert decisions_until(base, cut) == decisions_until(shocked, cut)
    # ... and the shock is real: what comes after t differs
    assert base.books["strategy"].equity[-1] != shocked.books["strategy"].equity[-1]


def test_the_same_run_twice_is_identical(tmp_path: Path) -> None:
    folder = write_market(tmp_path / "m")
    one, two = run(folder, tmp_path / "1"), run(folder, tmp_path / "2")
    assert decisions_until(one, LAST) == decisions_until(two, LAST)


def test_fee_and_fixed_slippage_apply(tmp_path: Path) -> None:
    folder = write_market(tmp_path / "m")
    result = run(folder, tmp_path, fee_bps=Decimal(25), slippage_bps=Decimal(10), baselines=())
    fills = result.books["strategy"].fills
    assert fills
    assert set(result.books) == {"strategy"}
    orders = {o["client_order_id"]: o for o in result.books["strategy"].orders}
    for f in fills:
        buy = f["side"] == "BUY"
        gross = f["quantity"] if buy else f["quantity"] * f["price"]
        assert f["fee"] == (gross * Decimal("0.0025")).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)
        mid = orders[f["client_order_id"]]["reference_price"]
        assert f["price"] == (mid * (Decimal("1.001") if buy else Decimal("0.999"))).quantize(Decimal("0.0001"))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"symbols": ("NOPEUSDT",)}, "unknown symbol NOPEUSDT"),
        ({"start": LAST, "end": FIRST}, "empty range"),
        ({"start": START, "end": LAST}, "is not covered"),
        ({"start": FIRST, "end": LAST + timedelta(hours=2)}, "is not covered"),
        ({"rebalance_bars": 0}, "--rebalance-bars must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path: Path, config: dict[str, object], message: str) -> None:
    data, clock = replay(write_market(tmp_path / "m"), FIRST)
    cfg = BacktestConfig(**{"start": FIRST, "end": LAST, **config})  # type: ignore[arg-type]
    with pytest.raises(BacktestInputError, match=message):
        run_backtest(cfg, data, clock, settings=backtest_settings(tmp_path))


def test_interval_mismatch_with_the_files(tmp_path: Path) -> None:
    with pytest.raises(BacktestInputError, match="--interval 5m does not match"):
        open_replay(write_market(tmp_path / "m"), BacktestClock(FIRST), interval="5m")


def test_metrics_of_every_book(tmp_path: Path) -> None:
    result = run(write_market(tmp_path / "m"), tmp_path)
    metrics = result.metrics()
    assert set(metrics) == set(result.books)
    for name, m in metrics.items():
        book = result.books[name]
        assert m["total_return"] == pytest.approx(book.net_return)
        assert m["orders"] == len({f["client_order_id"] for f in book.fills})
        assert m["fees"] == pytest.approx(float(sum(f["fee_quote"] for f in book.fills)))
        # implementation shortfall: each executed order's average fill against its arrival mark
        executed = [o for o in book.orders if o["executed_quantity"] > 0 and o["reference_price"]]
        cost = sum(
            float(
                (o["quote_quantity"] - o["executed_quantity"] * o["reference_price"])
                * (1 if o["side"] == "BUY" else -1)
            )
            for o in executed
        )
        assert m["shortfall_quote"] == pytest.approx(cost, abs=1e-6)
        arrival = sum(float(o["executed_quantity"] * o["reference_price"]) for o in executed)
        assert m["shortfall_bps"] == pytest.approx(cost / arrival * 10_000, abs=0.01)
        assert m["shortfall_bps"] > 0  # the paper exchange buys at the ask and sells at the bid
        assert 0 < m["fill_ratio"] <= 1
        # the per-symbol PnL adds up to the equity change
        change = float(book.equity[-1].equity - book.equity[0].equity)
        assert sum(m["symbol_pnl"].values()) == pytest.approx(change, abs=0.01)
        assert 0 <= m["max_drawdown"] < 1
        assert 0 <= m["exposure_avg"] <= 1
        for key in ("cagr", "volatility", "sharpe", "sortino", "max_drawdown_days", "turnover"):
            assert key in m


def test_the_curve_valued_from_book_tops_alone_equals_the_one_from_full_snapshots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between rebalances the curve's marks come from the book tops alone when every symbol held
    has a sane top (no 24h tickers fetched); the curve and every decision are those of valuing
    from the full snapshot at every bar."""
    import backend.backtest.engine as engine
    from backend.market.sources.replay import ReplayMarketSource

    folder = write_market(tmp_path / "m")
    fetched: list[int] = []
    tickers = ReplayMarketSource.tickers_24h

    def counted(self: ReplayMarketSource) -> object:
        fetched.append(1)
        return tickers(self)

    monkeypatch.setattr(ReplayMarketSource, "tickers_24h", counted)
    tops_only = run(folder, tmp_path / "1", rebalance_bars=4, liquidity_bars=4)
    with_tops_only = len(fetched)
    fetched.clear()
    monkeypatch.setattr(engine, "book_marks", lambda tops: {})  # no symbol marked from tops alone
    full = run(folder, tmp_path / "2", rebalance_bars=4, liquidity_bars=4)
    assert decisions_until(tops_only, LAST) == decisions_until(full, LAST)
    assert with_tops_only < len(fetched)  # the shortcut was taken


def test_a_backtest_process_freezes_its_start_up_heap_and_collects_young_objects_less_often() -> None:
    code = (
        "import gc; from backend.backtest.inline import tune_collector; before = gc.get_threshold(); "
        "tune_collector(); print(before, gc.get_threshold(), gc.get_freeze_count() > 10_000)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.split(")")[:2] == ["(700, 10, 10", " (50000, 20, 20"]
    assert done.stdout.strip().endswith("True")
