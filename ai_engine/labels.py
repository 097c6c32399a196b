"""Labels: the forward return over a horizon against a threshold -> SELL (0), HOLD (1) or BUY (2).

The class codes are the positions in ai_engine.signal.CLASSES, which is also the column order of
the model's probabilities. Labels look forward by design; they are targets, never features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ai_engine.signal import CLASSES, Action

SELL = CLASSES.index(Action.SELL)
HOLD = CLASSES.index(Action.HOLD)
BUY = CLASSES.index(Action.BUY)
NO_LABEL = -1
VOL_WINDOW = 48


def forward_returns(close: np.ndarray, horizon: int) -> np.ndarray:
    """close[t + horizon] / close[t] - 1 along axis 0 (NaN where the horizon runs past the data)."""
    if horizon < 1:
        raise ValueError("horizon must be at least 1 bar")
    close = np.asarray(close, dtype=np.float64)
    out = np.full_like(close, np.nan)
    if horizon < len(close):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:-horizon] = close[horizon:] / close[:-horizon] - 1.0
    return out


def volatility_scale(close: np.ndarray, window: int = VOL_WINDOW) -> np.ndarray:
    """Each bar's trailing volatility relative to its symbol's median volatility *so far* (1 = typical).

    The median runs over the bars up to and including each bar (an expanding window), never later
    ones: with a full-sample median, bars added at the end changed the labels of the first ones
    (809 of the first 10,000 on BTC), so a training window's labels depended on its test window."""
    close = np.asarray(close, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(close)
    returns = np.full_like(log_close, np.nan)
    returns[1:] = np.diff(log_close, axis=0)
    if returns.ndim == 1:
        returns = returns[:, None]
    windows = np.lib.stride_tricks.sliding_window_view(returns, window, axis=0)
    vol = np.full_like(returns, np.nan)
    vol[window - 1 :] = np.std(windows, axis=-1, ddof=1) if len(returns) >= window else np.nan
    with np.errstate(invalid="ignore"):
        positive = pd.DataFrame(np.where(vol > 0, vol, np.nan))
        median = positive.expanding(min_periods=1).median().to_numpy()
        scale = vol / median
    return scale.reshape(close.shape)


def make_labels(
    close: np.ndarray,
    horizon: int,
    threshold: float,
    *,
    vol_scaled: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(labels, forward returns) for closes along axis 0 (one column per symbol, or one series).

    BUY when the forward return is above the threshold, SELL when below its negative, HOLD
    otherwise; NO_LABEL where the forward return is unknown. With ``vol_scaled`` the threshold of
    each bar is multiplied by its volatility scale (calm bars need smaller moves, wild ones larger).
    """
    if not 0 < threshold < 1:
        raise ValueError("threshold must be in (0, 1)")
    fwd = forward_returns(close, horizon)
    thr: np.ndarray | float = threshold
    if vol_scaled:
        thr = threshold * volatility_scale(close)
    labels = np.full(fwd.shape, NO_LABEL, dtype=np.int8)
    known = np.isfinite(fwd) & np.isfinite(thr)
    with np.errstate(invalid="ignore"):
        labels[known] = HOLD
        labels[known & (fwd > thr)] = BUY
        labels[known & (fwd < -thr)] = SELL
    return labels, fwd
