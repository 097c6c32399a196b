"""The metrics are computed with numpy but are pandas' formulas: the same floats, bit for bit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from backend.backtest.stats import book_metrics, drawdown_of

START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Point:
    time: datetime
    equity: Decimal
    cash: Decimal
    gross_exposure: Decimal


def _points(equity: np.ndarray, gross: np.ndarray, step: int) -> list[Point]:
    return [
        Point(START + timedelta(seconds=step * i), Decimal(f"{e:.8f}"), Decimal(0), Decimal(f"{g:.8f}"))
        for i, (e, g) in enumerate(zip(equity, gross, strict=True))
    ]


def _pandas_metrics(points: list[Point], step: int) -> dict[str, float | None]:
    """The metrics as pandas computes them (the implementation the numpy one replaced)."""
    index = pd.DatetimeIndex([p.time for p in points])
    equity = pd.Series([float(p.equity) for p in points], index=index, dtype=float)
    gross = pd.Series([float(p.gross_exposure) for p in points], index=index, dtype=float)
    returns = equity.pct_change().dropna()
    per_year = 365 * 86_400 / step
    std = float(returns.std(ddof=1)) if len(returns) > 1 else 0.0
    mean = float(returns.mean()) if len(returns) else 0.0
    downside = float(np.sqrt(np.mean(np.minimum(returns.to_numpy(), 0.0) ** 2))) if len(returns) else 0.0
    dd = equity / equity.cummax() - 1
    exposure = (gross / equity.where(equity > 0)).fillna(0.0)
    return {
        "start_equity": round(equity.iloc[0], 8),
        "end_equity": round(equity.iloc[-1], 8),
        "volatility": std * math.sqrt(per_year) if len(returns) > 1 else None,
        "sharpe": mean / std * math.sqrt(per_year) if std > 0 else None,
        "sortino": mean / downside * math.sqrt(per_year) if downside > 0 else None,
        "max_drawdown": abs(float(dd.min())),
        "exposure_avg": float(exposure.mean()),
    }


@pytest.mark.parametrize("seed", range(12))
def test_book_metrics_are_pandas_formulas_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 600))
    step = int(rng.choice([300, 3600, 86_400]))
    equity = 1000 * np.exp(np.cumsum(rng.standard_normal(n) * 0.01))
    if seed % 3 == 1:
        equity[:] = 1000.0  # a flat curve: no volatility
    gross = equity * rng.random(n)
    points = _points(equity, gross, step)
    got = book_metrics(points, [], [], interval_seconds=step, holdings={}, marks={})
    expected = _pandas_metrics(points, step)
    for key, value in expected.items():
        assert repr(got[key]) == repr(value), key


def test_drawdown_is_the_fall_from_the_running_peak_as_pandas_computes_it() -> None:
    equity = np.array([100.0, 110.0, 99.0, 121.0, 60.5])
    series = pd.Series(equity)
    assert np.array_equal(drawdown_of(equity), (series / series.cummax() - 1).to_numpy())


def test_orders_count_what_reached_the_exchange_and_not_placed_what_never_did() -> None:
    """A maker order that rested and was cancelled was placed (a review found it counted as not
    placed); a sliced parent is neither, its slices are the orders."""
    points = _points(np.full(5, 1000.0), np.zeros(5), 3600)
    statuses = ["FILLED", "PARTIALLY_FILLED", "EXPIRED", "CANCELED", "NEW", "REFUSED", "FAILED", "SKIPPED", "WORKING"]
    orders = [
        {
            "status": s,
            "side": "BUY",
            "client_order_id": f"c{i}",
            "requested_quantity": Decimal(1),
            "executed_quantity": Decimal(0),
            "quote_quantity": Decimal(0),
            "reference_price": Decimal(1),
        }
        for i, s in enumerate(statuses)
    ]
    got = book_metrics(points, [], orders, interval_seconds=3600, holdings={}, marks={})
    assert (got["orders"], got["orders_not_placed"]) == (5, 3)


def test_one_return_defines_neither_volatility_nor_sharpe_nor_sortino() -> None:
    points = _points(np.array([1000.0, 990.0]), np.zeros(2), 3600)  # a review found Sortino -93.6 from this
    got = book_metrics(points, [], [], interval_seconds=3600, holdings={}, marks={})
    assert (got["volatility"], got["sharpe"], got["sortino"]) == (None, None, None)  # volatility read 0.0
    assert got["total_return"] == pytest.approx(-0.01)
