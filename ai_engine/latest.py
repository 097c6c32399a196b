"""The features of each symbol's newest bar only, in numpy over all symbols at once (the scoring path).

``features.latest_features`` computes every feature at every bar through pandas, one rolling call
per column: fine for training, but the live path needs one row per symbol, and 18 rolling or EWM
calls x 100 columns cost most of a refresh. Here each rolling window is read at the newest bar
only, and each EWM is one recursion over the bars for all symbols together, with pandas' own
semantics (``adjust=False``, NaN gaps decaying the old weight, ``min_periods`` counting
observations). ``test_latest_rows_equal_the_full_computation`` checks it against the full one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ai_engine.features import FEATURE_NAMES, MIN_BARS, RETURN_HORIZONS, Bars, _sentiment_asof


def _ewm(x: np.ndarray, alpha: float, min_periods: int) -> np.ndarray:
    """pandas ``ewm(alpha=..., adjust=False, min_periods=...).mean()`` along axis 0 of a T x S array.

    Columns without a gap after their first observation (the usual case) go through one IIR filter
    call (scipy's lfilter, in C): leading NaNs are filled with the first observation, which an EMA
    started there leaves unchanged. Columns with gaps take the step-by-step recursion."""
    observed = ~np.isnan(x)
    first = np.argmax(observed, axis=0)
    k = int(first[0]) if first.size else 0
    if first.size and (first == k).all() and observed[k:].all():
        return _ewm_aligned(x, alpha, min_periods, k)
    started = np.arange(x.shape[0])[:, None] >= first[None, :]
    gapless = (observed | ~started).all(axis=0) & observed.any(axis=0)
    out = np.full(x.shape, np.nan)
    if gapless.any():
        cols = np.nonzero(gapless)[0]
        filled = np.where(started[:, cols], x[:, cols], x[first[cols], cols][None, :])
        zi = (1 - alpha) * filled[:1]
        y, _ = lfilter([alpha], [1.0, alpha - 1.0], filled, axis=0, zi=zi)
        nobs = np.cumsum(observed[:, cols], axis=0)
        out[:, cols] = np.where(nobs >= min_periods, y, np.nan)
    if not gapless.all():
        rest = np.nonzero(~gapless)[0]
        out[:, rest] = _ewm_steps(x[:, rest], alpha, min_periods)
    return out


def _ewm_aligned(x: np.ndarray, alpha: float, min_periods: int, k: int) -> np.ndarray:
    """``_ewm`` when every column starts at row ``k`` and has no gap after it (every window of a
    refresh, the same bars for every symbol): the same filter on the same filled values, without
    selecting the gapless columns or counting each column's observations (row t has t - k + 1)."""
    filled = x
    if k:
        filled = x.copy()
        filled[:k] = x[k]
    zi = (1 - alpha) * filled[:1]
    y, _ = lfilter([alpha], [1.0, alpha - 1.0], filled, axis=0, zi=zi)
    y[: k + min_periods - 1 if min_periods >= 1 else 0] = np.nan
    return np.asarray(y, dtype=np.float64)


def _ewm_steps(x: np.ndarray, alpha: float, min_periods: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    weighted = np.full(x.shape[1], np.nan)
    old_wt = np.ones(x.shape[1])
    nobs = np.zeros(x.shape[1])
    keep = 1.0 - alpha
    for t in range(x.shape[0]):
        cur = x[t]
        obs = ~np.isnan(cur)
        nobs += obs
        has = ~np.isnan(weighted)
        old_wt = np.where(has, old_wt * keep, old_wt)
        update = has & obs
        with np.errstate(invalid="ignore"):
            mixed = np.where(weighted == cur, weighted, (old_wt * weighted + alpha * cur) / (old_wt + alpha))
        weighted = np.where(update, mixed, np.where(~has & obs, cur, weighted))
        old_wt = np.where(update, 1.0, old_wt)
        out[t] = np.where(nobs >= min_periods, weighted, np.nan)
    return out


def _window(values: np.ndarray, rows: np.ndarray | None, cols: np.ndarray, width: int) -> np.ndarray:
    """values[rows - width + 1 .. rows, cols] as a width x n array (NaN before the first bar).

    ``rows`` None: every column's newest bar is the last row (a refresh scores all symbols at the
    same bar) and ``cols`` are all the columns in order: the window is then the last rows, copied
    as one block instead of gathered element by element. Copied, not a view: the gathered window is
    C-ordered, and a reduction over a view of a column-major array would add in another order."""
    if rows is None:
        if values.shape[0] >= width:
            return np.ascontiguousarray(values[values.shape[0] - width :])
        rows = np.full(values.shape[1], values.shape[0] - 1)
    index = rows[None, :] + np.arange(-width + 1, 1)[:, None]
    out = values[np.clip(index, 0, None), cols[None, :]]
    return np.where(index >= 0, out, np.nan)


def _at(values: np.ndarray, rows: np.ndarray | None, cols: np.ndarray, back: int = 0) -> np.ndarray:
    """values[rows - back, cols] (NaN before the first bar); ``rows`` None as in ``_window``."""
    if rows is None:
        last = values.shape[0] - 1 - back
        return values[last] if last >= 0 else np.full(values.shape[1], np.nan)
    index = rows - back
    return np.where(index >= 0, values[np.clip(index, 0, None), cols], np.nan)


def latest_features_fast(bars: Bars, sentiment: pd.Series | None = None, *, min_bars: int = MIN_BARS) -> pd.DataFrame:
    """The same frame as ``features.latest_features``: each symbol's newest bar, symbols with fewer
    than ``min_bars`` bars left out."""
    if not bars.symbols:
        return pd.DataFrame(columns=list(FEATURE_NAMES), dtype=np.float64)
    symbols, data = latest_feature_rows(bars, sentiment, min_bars=min_bars)
    index = pd.Index(symbols, name="symbol")
    return pd.DataFrame(data if len(symbols) else None, index=index, columns=list(FEATURE_NAMES), dtype=np.float64)


def latest_feature_rows(
    bars: Bars, sentiment: pd.Series | None = None, *, min_bars: int = MIN_BARS
) -> tuple[list[str], np.ndarray]:
    """``latest_features_fast`` as (the symbols scored, their n x FEATURE_NAMES float64 rows): what
    the predictor feeds the booster, without building a frame at every refresh."""
    if not bars.symbols:
        return [], np.empty((0, len(FEATURE_NAMES)))
    present = bars.present
    cols = np.nonzero(present.sum(axis=0) >= min_bars)[0]
    newest = (len(bars.times) - 1 - np.argmax(present[::-1, :], axis=0))[cols]
    close, high, low, open_, volume = (getattr(bars, n)[:, cols] for n in ("close", "high", "low", "open", "volume"))
    own = np.arange(len(cols))
    rows = None if bool((newest == len(bars.times) - 1).all()) else newest  # None: all at the last row
    f: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(close)
        lc = _at(log_close, rows, own)
        for k in RETURN_HORIZONS:
            f[f"ret_{k}"] = lc - _at(log_close, rows, own, k)
        r1 = np.full_like(log_close, np.nan)
        r1[1:] = log_close[1:] - log_close[:-1]
        for w in (12, 48):
            f[f"vol_{w}"] = np.std(_window(r1, rows, own, w), axis=0, ddof=1)
        f["vol_ratio_12_48"] = f["vol_12"] / f["vol_48"]
        log_volume = np.log1p(volume)
        for w in (24, 72):
            win = _window(log_volume, rows, own, w)
            f[f"volume_z_{w}"] = (win[-1] - np.mean(win, axis=0)) / np.std(win, axis=0, ddof=1)
        diff = np.full_like(close, np.nan)
        diff[1:] = close[1:] - close[:-1]
        gain = _ewm(np.where(np.isnan(diff), np.nan, np.maximum(diff, 0.0)), 1 / 14, 14)
        loss = _ewm(np.where(np.isnan(diff), np.nan, np.maximum(-diff, 0.0)), 1 / 14, 14)
        f["rsi_14"] = _at(gain / (gain + loss), rows, own)
        macd = _ewm(close, 2 / 13, 12) - _ewm(close, 2 / 27, 26)
        signal = _ewm(macd, 2 / 10, 9)
        f["macd_hist"] = _at((macd - signal) / close, rows, own)
        win20 = _window(close, rows, own, 20)
        mean20, std20 = np.mean(win20, axis=0), np.std(win20, axis=0, ddof=1)
        c = win20[-1]
        f["bb_pctb_20"] = (c - (mean20 - 2 * std20)) / (4 * std20)
        f["bb_width_20"] = 4 * std20 / mean20
        prev = np.full_like(close, np.nan)
        prev[1:] = close[:-1]
        true_range = np.fmax(high - low, np.fmax(np.abs(high - prev), np.abs(low - prev)))
        true_range[np.isnan(close)] = np.nan
        f["atr_14"] = _at(_ewm(true_range, 1 / 14, 14) / close, rows, own)
        h, lo_, o = _at(high, rows, own), _at(low, rows, own), _at(open_, rows, own)
        f["range_1"] = (h - lo_) / c
        f["body_1"] = lc - np.log(o)
        for w in (24, 72):
            f[f"dist_high_{w}"] = lc - np.log(np.max(_window(high, rows, own, w), axis=0))
            f[f"dist_low_{w}"] = lc - np.log(np.min(_window(low, rows, own, w), axis=0))
    f["sentiment"] = _sentiment_asof(bars.times, bars.interval, sentiment)[newest]
    if not len(cols):
        return [], np.empty((0, len(FEATURE_NAMES)))
    data = np.column_stack([f[name] for name in FEATURE_NAMES])
    return [bars.symbols[j] for j in cols.tolist()], np.where(np.isfinite(data), data, np.nan)
