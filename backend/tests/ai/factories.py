"""Test data for the AI engine: random-walk bars of many symbols, as Bars, Klines and replay files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from ai_engine.booster import BoosterParams, fit_booster
from ai_engine.features import FEATURE_NAMES, Bars
from ai_engine.signal import CLASSES, Action
from backend.market.types import Kline

START = datetime(2024, 1, 1, tzinfo=UTC)


def random_walk_bars(
    n_symbols: int = 3,
    n_bars: int = 400,
    *,
    seed: int = 1,
    interval: str = "1h",
    start: datetime = START,
    momentum: float = 0.0,
    vol: float = 0.01,
) -> Bars:
    """OHLCV random walks with volatility clustering; ``momentum`` > 0 makes returns persist (learnable)."""
    rng = np.random.default_rng(seed)
    step = pd.Timedelta(interval.replace("m", "min") if interval.endswith("m") else interval)
    times = pd.date_range(start, periods=n_bars, freq=step, tz="UTC")
    shocks = rng.standard_normal((n_bars, n_symbols)) * vol
    returns = np.empty_like(shocks)
    returns[0] = shocks[0]
    for t in range(1, n_bars):
        returns[t] = momentum * returns[t - 1] + shocks[t]
    close = 100.0 * (1 + rng.random(n_symbols)) * np.exp(np.cumsum(returns, axis=0))
    open_ = np.vstack([close[:1] / np.exp(returns[:1]), close[:-1]])
    wiggle = np.abs(rng.standard_normal((n_bars, n_symbols))) * vol * 0.5
    high = np.maximum(open_, close) * (1 + wiggle)
    low = np.minimum(open_, close) * (1 - wiggle)
    volume = 1000.0 * np.exp(rng.standard_normal((n_bars, n_symbols)) * 0.3 + 5 * np.abs(returns))
    symbols = tuple(f"S{j:03d}USDT" for j in range(n_symbols))
    return Bars(interval, times, symbols, open_, high, low, close, volume)


def _dec(value: float) -> Decimal:
    return Decimal(f"{value:.8f}")


def klines_of(bars: Bars) -> dict[str, list[Kline]]:
    """The bars as Kline lists (Decimal), one per symbol, skipping absent bars."""
    step = bars.times[1] - bars.times[0] if len(bars.times) > 1 else pd.Timedelta(hours=1)
    out: dict[str, list[Kline]] = {}
    for j, symbol in enumerate(bars.symbols):
        ks = []
        for i, opened in enumerate(bars.times):
            if np.isnan(bars.close[i, j]):
                continue
            t = opened.to_pydatetime()
            ks.append(
                Kline(
                    symbol=symbol,
                    interval=bars.interval,
                    open_time=t,
                    close_time=t + step.to_pytimedelta() - timedelta(milliseconds=1),
                    open=_dec(bars.open[i, j]),
                    high=_dec(bars.high[i, j]),
                    low=_dec(bars.low[i, j]),
                    close=_dec(bars.close[i, j]),
                    volume=_dec(bars.volume[i, j]),
                    quote_volume=_dec(bars.volume[i, j] * bars.close[i, j]),
                )
            )
        out[symbol] = ks
    return out


def write_replay_dir(directory: Path, bars: Bars) -> Path:
    """One SYMBOL.csv per symbol in the replay format (open_time in ms)."""
    directory.mkdir(parents=True, exist_ok=True)
    for j, symbol in enumerate(bars.symbols):
        frame = pd.DataFrame(
            {
                "open_time": bars.times.as_unit("ms").asi8,
                "open": bars.open[:, j],
                "high": bars.high[:, j],
                "low": bars.low[:, j],
                "close": bars.close[:, j],
                "volume": bars.volume[:, j],
            }
        ).dropna()
        frame.to_csv(directory / f"{symbol}.csv", index=False)
    return directory


def fast_model_settings(**extra: object) -> dict[str, object]:
    """Model settings that train in well under a second on the small test data.

    No age limit: the test bars are from 2024, and a model's age counts from the end of its data. No
    economic gate (a backtest per fold): test_economic.py runs it."""
    return {
        "QT_MODEL_MAX_AGE_HOURS": 0,
        "QT_MODEL_ECONOMIC_GATE": 0,
        "QT_MODEL_BOOST_ROUNDS": 15,
        "QT_MODEL_FOLDS": 2,
        "QT_MODEL_EMBARGO_BARS": 1,
        "QT_MODEL_THREADS": 1,
        "QT_MODEL_TRAIN_DAYS": 20,
        **extra,
    }


def sentiment_booster() -> xgb.Booster:
    """A booster that buys when the sentiment feature is above one half and sells below it."""
    rng = np.random.default_rng(3)
    features = rng.standard_normal((600, len(FEATURE_NAMES)))
    mood = rng.random(600)
    features[:, FEATURE_NAMES.index("sentiment")] = mood
    labels = np.where(mood > 0.5, CLASSES.index(Action.BUY), CLASSES.index(Action.SELL))
    return fit_booster(features, labels, BoosterParams(rounds=5, threads=1, min_child_weight=1.0))
