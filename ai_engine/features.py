"""Features: a pure, vectorised function from the bars of many symbols to one named feature list.

Bars are held wide (one row per bar time, one column per symbol), so every rolling window, EMA
and shift runs once over all symbols. Every feature at bar t is a function of bars at or before t
only (the perturbation test in backend/tests/ai/test_features.py proves it), and every feature is
scale-free: log returns, ratios and z-scores, never a raw price, volume level or timestamp.
Training and inference share FEATURE_NAMES and FEATURE_VERSION; a model records both and the
loader refuses a model whose list differs from the running code's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from backend.market.types import Kline

FEATURE_VERSION = "1"
FEATURE_NAMES: tuple[str, ...] = (
    "ret_1",
    "ret_3",
    "ret_6",
    "ret_12",
    "ret_24",
    "ret_72",
    "vol_12",
    "vol_48",
    "vol_ratio_12_48",
    "volume_z_24",
    "volume_z_72",
    "rsi_14",
    "macd_hist",
    "bb_pctb_20",
    "bb_width_20",
    "atr_14",
    "range_1",
    "body_1",
    "dist_high_24",
    "dist_low_24",
    "dist_high_72",
    "dist_low_72",
    "sentiment",
)
# The features that carry no direction: volatility, range and activity are the same whether the
# market rose or fell. The direction-blind baseline is a booster that sees only these.
DIRECTION_BLIND_FEATURES: frozenset[str] = frozenset(
    {"vol_12", "vol_48", "vol_ratio_12_48", "volume_z_24", "volume_z_72", "bb_width_20", "atr_14", "range_1"}
)
# Rows before this many bars of a symbol's history are warm-up (windows and EMAs not settled).
WARMUP_BARS = 100
# The fewest bars a symbol needs for its latest features to be scored.
MIN_BARS = WARMUP_BARS

RETURN_HORIZONS = (1, 3, 6, 12, 24, 72)

_INTERVALS = {
    "1m": timedelta(minutes=1),
    "3m": timedelta(minutes=3),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "30m": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "2h": timedelta(hours=2),
    "4h": timedelta(hours=4),
    "6h": timedelta(hours=6),
    "8h": timedelta(hours=8),
    "12h": timedelta(hours=12),
    "1d": timedelta(days=1),
}


def interval_delta(interval: str) -> timedelta:
    """The duration of one bar of ``interval`` (Binance spelling)."""
    try:
        return _INTERVALS[interval]
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}; known: {', '.join(_INTERVALS)}") from None


@dataclass(frozen=True)
class Bars:
    """OHLCV of many symbols, wide: ``close[i, j]`` is symbol j's close of the bar opening at times[i].

    A symbol without a bar at some time holds NaN there.
    """

    interval: str
    times: pd.DatetimeIndex  # bar open times, UTC, strictly increasing
    symbols: tuple[str, ...]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        # One time unit everywhere (pandas keeps ms, us or ns as parsed), always UTC.
        times = pd.DatetimeIndex(self.times)
        times = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
        object.__setattr__(self, "times", times.as_unit("ns"))

    @property
    def present(self) -> np.ndarray:
        """True where a symbol has a bar."""
        return ~np.isnan(self.close)

    def bar_counts(self) -> np.ndarray:
        """How many bars each symbol has up to and including each row (1 at its first bar)."""
        present = self.present
        return np.cumsum(present, axis=0) * present


def bars_from_frame(frame: pd.DataFrame, interval: str) -> Bars:
    """Bars from a long frame with columns symbol, open_time, open, high, low, close, volume."""
    required = ["symbol", "open_time", "open", "high", "low", "close", "volume"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"bars frame lacks columns {missing}")
    interval_delta(interval)
    frame = frame[required].copy()
    frame["open_time"] = pd.to_datetime(frame["open_time"], utc=True)
    frame = frame.drop_duplicates(["symbol", "open_time"], keep="last")
    wide = frame.pivot(index="open_time", columns="symbol").sort_index()
    symbols = tuple(str(s) for s in wide["close"].columns)
    times = pd.DatetimeIndex(wide.index)

    def col(name: str) -> np.ndarray:
        return wide[name].reindex(columns=list(symbols)).to_numpy(dtype=np.float64, copy=True)

    return Bars(interval, times, symbols, col("open"), col("high"), col("low"), col("close"), col("volume"))


def bars_from_klines(klines_by_symbol: Mapping[str, Sequence[Kline]], interval: str | None = None) -> Bars:
    """Bars from Kline lists (Decimal prices become floats: features need ratios, not money)."""
    symbols = tuple(sorted(s for s, ks in klines_by_symbol.items() if ks))
    if interval is None:
        interval = next((ks[0].interval for ks in klines_by_symbol.values() if ks), "1h")
    per_symbol: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for symbol in symbols:
        ks = klines_by_symbol[symbol]
        stamps = np.fromiter((k.open_time.timestamp() for k in ks), dtype=np.float64, count=len(ks))
        values = np.array(
            [(k.open, k.high, k.low, k.close, k.volume) for k in ks],
            dtype=np.float64,
        ).reshape(len(ks), 5)
        order = np.argsort(stamps, kind="stable")
        per_symbol[symbol] = (stamps[order], values[order])
    if not symbols:
        empty = np.empty((0, 0))
        return Bars(interval, pd.DatetimeIndex([], tz="UTC"), (), empty, empty, empty, empty, empty)
    stamp_arrays = [per_symbol[s][0] for s in symbols]
    first = stamp_arrays[0]
    if all(len(a) == len(first) and np.array_equal(a, first) for a in stamp_arrays[1:]):
        union = first
        cube = np.stack([per_symbol[s][1] for s in symbols], axis=1)  # T x S x 5
    else:
        union = np.unique(np.concatenate(stamp_arrays))
        cube = np.full((len(union), len(symbols), 5), np.nan)
        for j, symbol in enumerate(symbols):
            stamps, values = per_symbol[symbol]
            cube[np.searchsorted(union, stamps), j, :] = values
    times = pd.DatetimeIndex(pd.to_datetime(np.round(union * 1000).astype(np.int64), unit="ms", utc=True))
    return Bars(
        interval,
        times,
        symbols,
        cube[:, :, 0].copy(),
        cube[:, :, 1].copy(),
        cube[:, :, 2].copy(),
        cube[:, :, 3].copy(),
        cube[:, :, 4].copy(),
    )


def _shift(values: np.ndarray, k: int) -> np.ndarray:
    """values[t - k] at row t (NaN for the first k rows)."""
    out = np.full_like(values, np.nan)
    if k < len(values):
        out[k:] = values[: len(values) - k]
    return out


def sentiment_feature(readings: Iterable[tuple[datetime, float]]) -> pd.Series:
    """Sentiment index readings (time, value 0..100) as the feature takes them: value / 100 by time
    (the time the reading counts from: its publication, or when it was first held)."""
    pairs = list(readings)
    times = pd.DatetimeIndex([when for when, _value in pairs])
    return pd.Series([value / 100 for _when, value in pairs], index=times, dtype=float)


def _sentiment_asof(times: pd.DatetimeIndex, interval: str, sentiment: pd.Series | None) -> np.ndarray:
    """The latest sentiment value published at or before each bar's close (never a later one)."""
    out = np.full(len(times), np.nan)
    if sentiment is None or len(sentiment) == 0 or len(times) == 0:
        return out
    series = sentiment.dropna().sort_index()
    stamps = pd.DatetimeIndex(pd.to_datetime(series.index, utc=True)).as_unit("ns").asi8
    closes = (times + interval_delta(interval)).asi8
    pos = np.searchsorted(stamps, closes, side="right") - 1
    ok = pos >= 0
    out[ok] = series.to_numpy(dtype=np.float64)[pos[ok]]
    return out


def compute_features_wide(bars: Bars, sentiment: pd.Series | None = None) -> dict[str, np.ndarray]:
    """Every feature as a T x S array aligned with ``bars`` (NaN where a symbol has no bar)."""
    close, high, low, open_, volume = bars.close, bars.high, bars.low, bars.open, bars.volume
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(close)
        feats: dict[str, np.ndarray] = {}
        for k in RETURN_HORIZONS:
            feats[f"ret_{k}"] = log_close - _shift(log_close, k)
        r1 = pd.DataFrame(feats["ret_1"])
        vol_12 = r1.rolling(12, min_periods=12).std().to_numpy()
        vol_48 = r1.rolling(48, min_periods=48).std().to_numpy()
        feats["vol_12"] = vol_12
        feats["vol_48"] = vol_48
        feats["vol_ratio_12_48"] = vol_12 / vol_48

        log_volume = pd.DataFrame(np.log1p(volume))
        for w in (24, 72):
            roll = log_volume.rolling(w, min_periods=w)
            feats[f"volume_z_{w}"] = ((log_volume - roll.mean()) / roll.std()).to_numpy()

        close_df = pd.DataFrame(close)
        diff = close_df.diff()
        gains = diff.clip(lower=0)
        losses = (-diff).clip(lower=0)
        avg_gain = gains.ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
        avg_loss = losses.ewm(alpha=1 / 14, adjust=False, min_periods=14).mean()
        feats["rsi_14"] = (avg_gain / (avg_gain + avg_loss)).to_numpy()

        ema_fast = close_df.ewm(span=12, adjust=False, min_periods=12).mean()
        ema_slow = close_df.ewm(span=26, adjust=False, min_periods=26).mean()
        macd = ema_fast - ema_slow
        signal = macd.ewm(span=9, adjust=False, min_periods=9).mean()
        feats["macd_hist"] = ((macd - signal) / close_df).to_numpy()

        roll20 = close_df.rolling(20, min_periods=20)
        mean20 = roll20.mean().to_numpy()
        std20 = roll20.std().to_numpy()
        lower = mean20 - 2 * std20
        feats["bb_pctb_20"] = (close - lower) / (4 * std20)
        feats["bb_width_20"] = 4 * std20 / mean20

        prev_close = _shift(close, 1)
        true_range = np.fmax(high - low, np.fmax(np.abs(high - prev_close), np.abs(low - prev_close)))
        true_range[np.isnan(close)] = np.nan
        atr = pd.DataFrame(true_range).ewm(alpha=1 / 14, adjust=False, min_periods=14).mean().to_numpy()
        feats["atr_14"] = atr / close
        feats["range_1"] = (high - low) / close
        feats["body_1"] = log_close - np.log(open_)

        high_df = pd.DataFrame(high)
        low_df = pd.DataFrame(low)
        for w in (24, 72):
            rolling_high = high_df.rolling(w, min_periods=w).max().to_numpy()
            rolling_low = low_df.rolling(w, min_periods=w).min().to_numpy()
            feats[f"dist_high_{w}"] = log_close - np.log(rolling_high)
            feats[f"dist_low_{w}"] = log_close - np.log(rolling_low)

    sentiment_column = _sentiment_asof(bars.times, bars.interval, sentiment)
    feats["sentiment"] = np.repeat(sentiment_column[:, None], len(bars.symbols), axis=1)
    present = bars.present
    out = {}
    for name in FEATURE_NAMES:
        values = np.asarray(feats[name], dtype=np.float64)
        out[name] = np.where(np.isfinite(values) & present, values, np.nan)
    return out


def compute_features(bars: Bars, sentiment: pd.Series | None = None, *, drop_warmup: bool = True) -> pd.DataFrame:
    """The feature frame in long form: one row per (open_time, symbol) bar, time-ordered.

    Columns are FEATURE_NAMES; the index is a MultiIndex (open_time, symbol). With ``drop_warmup``
    the first WARMUP_BARS bars of every symbol are left out.
    """
    wide = compute_features_wide(bars, sentiment)
    keep = bars.present
    if drop_warmup:
        keep = keep & (bars.bar_counts() > WARMUP_BARS)
    rows, cols = np.nonzero(keep)
    index = pd.MultiIndex.from_arrays(
        [bars.times[rows], np.asarray(bars.symbols, dtype=object)[cols]], names=["open_time", "symbol"]
    )
    return pd.DataFrame(stack_features(wide, keep), index=index, columns=list(FEATURE_NAMES), copy=False)


def stack_features(wide: dict[str, np.ndarray], keep: np.ndarray) -> np.ndarray:
    """Rows of ``keep`` (time-major, then symbol) x FEATURE_NAMES, one matrix."""
    out = np.empty((int(keep.sum()), len(FEATURE_NAMES)), dtype=np.float64)
    for k, name in enumerate(FEATURE_NAMES):
        out[:, k] = wide[name][keep]
    return out


def latest_features(bars: Bars, sentiment: pd.Series | None = None, *, min_bars: int = MIN_BARS) -> pd.DataFrame:
    """The features of each symbol's newest bar, indexed by symbol (symbols with < min_bars left out)."""
    if not bars.symbols:
        return pd.DataFrame(columns=list(FEATURE_NAMES), dtype=np.float64)
    wide = compute_features_wide(bars, sentiment)
    present = bars.present
    counts = present.sum(axis=0)
    # last row holding a bar, per symbol
    last = len(bars.times) - 1 - np.argmax(present[::-1, :], axis=0)
    cols = np.nonzero(counts >= min_bars)[0]
    rows = last[cols]
    data = np.column_stack([wide[name][rows, cols] for name in FEATURE_NAMES]) if len(cols) else None
    symbols = pd.Index([bars.symbols[j] for j in cols], name="symbol")
    return pd.DataFrame(data, index=symbols, columns=list(FEATURE_NAMES), dtype=np.float64)
