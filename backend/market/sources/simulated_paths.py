"""The simulated market's intraday paths: one price path per symbol that every interval is cut from.

Two paths are drawn, both pinned to the daily backbone (backend/market/sources/simulated_bars.py):
- the hourly path: 24 bars a day, bridged so that they sum exactly to the day's return;
- the minute path: 1440 bars a day, bridged so that each hour's 60 minutes sum to that hour's
  return, then fitted to the hour's bar: its minutes open at the hour's open, close at its close,
  reach exactly its high and low and never leave them, and their quote volume adds up to its own.
Every other interval is cut from them: 3m .. 30m aggregate the minutes, 2h .. 1d the hours, so a
bar is always the aggregate of the finer bars inside it (open, high, low, close; quote volume to
rounding), and the 24h tickers and book tops (made from the last 24 hours of bars: the hours at a
whole hour, else the minutes) never leave the hourly bars.
Arrays here are (days, symbols, bars of a day).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from backend.market.sources.simulated_universe import DAY, EPOCH

T_DF = 5.0
T_SCALE = math.sqrt((T_DF - 2) / T_DF)  # Student-t(5) scaled to unit variance
FACTOR_DAILY_VOL = 0.022
VOL_SD = 0.55  # the daily log-volatility's stationary sd
INTRADAY_PHI, INTRADAY_SD = 0.9, 0.5
EPOCH_S = int(EPOCH.timestamp())


@dataclass(frozen=True, slots=True)
class DayBars:
    """Bars of consecutive days: ``times`` (days x bars,) epoch seconds; the rest (days, n, bars)."""

    times: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote_volume: np.ndarray

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        return (self.open, self.high, self.low, self.close, self.volume, self.quote_volume)

    def flat(self) -> tuple[np.ndarray, ...]:
        """(open_time, o, h, l, c, vol, qvol), each field (n, days x bars): one copy."""
        return (self.times, *(np.concatenate(a, axis=-1) for a in self.arrays))


@dataclass(frozen=True, slots=True)
class Universe:
    """What the paths of a universe depend on besides its random streams and its daily backbone."""

    seed: int
    beta: np.ndarray  # (n,)
    idio: np.ndarray  # (n,) daily idiosyncratic volatility
    qvol: np.ndarray  # (n,) quote volume of a typical day


def ar1(x: np.ndarray, phi: float, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``y[..., t] = x[..., t] + phi * y[..., t - 1]`` along the last axis, ``y[..., -1]`` before
    the start being ``zi / phi``; returns (y, the next call's zi = phi * y[..., -1:]).

    The same floating-point operations, in the same order, as scipy's
    ``lfilter([1.0], [1.0, -phi], x, axis=-1, zi=zi)`` (bit for bit: the tests check it), without
    the second of start-up that importing scipy.signal costs.
    """
    steps = np.ascontiguousarray(np.moveaxis(x, -1, 0))  # one step at a time over every row at once
    out = np.empty_like(steps)
    carry = zi[..., 0].copy()
    for t in range(steps.shape[0]):
        row = out[t]
        np.add(carry, steps[t], out=row)  # lfilter's y = z + b0 * x, b0 = 1
        np.multiply(row, phi, out=carry)  # its next z = b1 * x - a1 * y = phi * y
    return np.ascontiguousarray(np.moveaxis(out, 0, -1)), carry[..., None]


def path(
    u: Universe,
    code: int,
    first: int,
    per_day: int,
    daily: tuple[np.ndarray, np.ndarray, np.ndarray],
    hours: DayBars | None = None,
) -> DayBars:
    """``per_day`` bars a day for days ``first`` .. ``first + D - 1`` from the streams (seed, code,
    day). ``daily`` = (each day's return, log-volatility, log level at its start), each (D, n). With
    ``hours`` (the hourly path of the same days), the bars are bridged and pinned to its hours."""
    daily_ret, daily_logvol, day_starts = daily
    n_days, n = daily_ret.shape
    # one random stream per (seed, path, day): any window yields the same bars
    shocks = np.empty((n_days, 4 * n + 2, per_day))
    for i in range(n_days):
        rng = np.random.default_rng([u.seed, code, first + i])
        shocks[i, : 2 * n + 1] = rng.standard_t(T_DF, size=(2 * n + 1, per_day)) * T_SCALE
        shocks[i, 2 * n + 1 :] = rng.standard_normal((2 * n + 1, per_day))
    z_factor = shocks[:, 0]  # (D, k)
    z_idio = shocks[:, 1 : n + 1]  # (D, n, k)
    wick = np.abs(shocks[:, n + 1 : 2 * n + 1])  # (D, n, k)
    eta = shocks[:, 2 * n + 1 : 3 * n + 1] * (INTRADAY_SD * math.sqrt(1 - INTRADAY_PHI**2))
    vol_noise = shocks[:, 3 * n + 1 : 4 * n + 1]
    wick2 = np.abs(shocks[:, 4 * n + 1])[:, None, :]
    g, _ = ar1(eta, INTRADAY_PHI, np.zeros((n_days, n, 1)))  # intraday log-vol
    intraday = np.exp(g - INTRADAY_SD**2 / 2)
    day_scale = np.exp(daily_logvol - VOL_SD**2 / 2)  # (D, n)
    bar_sigma = (
        np.sqrt(u.beta[None, :] ** 2 * FACTOR_DAILY_VOL**2 + (u.idio[None, :] * day_scale) ** 2)[..., None]
        * intraday
        / math.sqrt(per_day)
    )  # (D, n, k)
    raw = (
        u.beta[None, :, None] * FACTOR_DAILY_VOL / math.sqrt(per_day) * z_factor[:, None, :]
        + u.idio[None, :, None] * day_scale[..., None] * intraday / math.sqrt(per_day) * z_idio
    )
    # bridge: spread the gap to the target return in proportion to each bar's variance
    variance = bar_sigma**2
    if hours is None:  # to the day's return
        weights = variance / variance.sum(axis=2, keepdims=True)
        ret = raw + (daily_ret - raw.sum(axis=2))[..., None] * weights
    else:  # to each hour's return
        per_hour = per_day // 24
        hour_ret = np.diff(np.log(hours.close), axis=2, prepend=day_starts[..., None])  # (D, n, 24)
        var = variance.reshape(n_days, n, 24, per_hour)
        parts = raw.reshape(n_days, n, 24, per_hour)
        ret = (parts + (hour_ret - parts.sum(axis=3))[..., None] * (var / var.sum(axis=3, keepdims=True))).reshape(
            n_days, n, per_day
        )
    log_close = day_starts[..., None] + np.cumsum(ret, axis=2)
    close = np.exp(log_close)
    quote_volume = (u.qvol / per_day)[None, :, None] * (0.55 + 0.45 * np.abs(ret) / bar_sigma)
    quote_volume = quote_volume * np.exp(0.25 * vol_noise - 0.25**2 / 2)
    if hours is None:
        open_ = np.exp(log_close - ret)
        high = np.maximum(open_, close) * np.exp(0.5 * bar_sigma * wick)
        low = np.minimum(open_, close) * np.exp(-0.5 * bar_sigma * wick2)
    else:
        open_, high, low, close, quote_volume = _pinned(hours, close, bar_sigma, wick, wick2, quote_volume)
    volume = quote_volume / ((high + low + close) / 3)
    times = EPOCH_S + (np.arange(first, first + n_days)[:, None] * DAY + np.arange(per_day)[None, :] * (DAY // per_day))
    return DayBars(times.reshape(-1), open_, high, low, close, volume, quote_volume)


def _pinned(
    hours: DayBars,
    close: np.ndarray,
    sigma: np.ndarray,
    wick: np.ndarray,
    wick2: np.ndarray,
    quote_volume: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Each hour's bars made its bars: the first opens at the hour's open, the last closes at its
    close, and the path is stretched onto the hour's range (the part below the lower of open and
    close linearly onto [low, that], the part above the higher onto [that, high]), so its lowest
    and highest points are the hour's low and high; the minute of the highest close reaches the
    high, that of the lowest the low, other wicks are cut at them; quote volume is scaled to add up
    to the hour's. Aggregating the bars of an hour gives that hour's open, high, low and close."""
    d, n, k = close.shape
    shape = (d, n, 24, k // 24)
    top, bottom = hours.high[..., None], hours.low[..., None]
    start, end = hours.open[..., None], hours.close[..., None]
    c = close.reshape(shape).copy()
    c[..., -1] = hours.close
    lower, upper = np.minimum(start, end), np.maximum(start, end)
    deepest = np.minimum(c.min(axis=3, keepdims=True), lower)
    highest = np.maximum(c.max(axis=3, keepdims=True), upper)
    with np.errstate(divide="ignore", invalid="ignore"):
        down = np.where(deepest < lower, (lower - bottom) / (lower - deepest), 0.0)
        up = np.where(highest > upper, (top - upper) / (highest - upper), 0.0)
    c = np.where(c < lower, lower - (lower - c) * down, np.where(c > upper, upper + (c - upper) * up, c))
    c = np.clip(c, bottom, top)  # rounding at the ends of the stretch
    o = np.empty_like(c)
    o[..., 0] = hours.open
    o[..., 1:] = c[..., :-1]
    s = sigma.reshape(shape)
    h = np.minimum(np.maximum(o, c) * np.exp(0.5 * s * wick.reshape(shape)), top)
    lo = np.maximum(np.minimum(o, c) * np.exp(-0.5 * s * wick2.reshape(d, 1, 24, k // 24)), bottom)
    np.put_along_axis(h, np.argmax(c, axis=3)[..., None], top, axis=3)
    np.put_along_axis(lo, np.argmin(c, axis=3)[..., None], bottom, axis=3)
    qv = quote_volume.reshape(shape)
    qv = qv * (hours.quote_volume / qv.sum(axis=3))[..., None]
    return tuple(a.reshape(d, n, k) for a in (o, h, lo, c, qv))


def aggregate(bars: DayBars, factor: int) -> DayBars:
    """Bars of ``factor`` consecutive bars each (a day's bars divide evenly): first open, highest
    high, lowest low, last close, summed volumes."""
    d, n, k = bars.open.shape
    shape = (d, n, k // factor, factor)
    return DayBars(
        bars.times[::factor].copy(),
        bars.open.reshape(shape)[..., 0],
        bars.high.reshape(shape).max(axis=3),
        bars.low.reshape(shape).min(axis=3),
        bars.close.reshape(shape)[..., -1],
        bars.volume.reshape(shape).sum(axis=3),
        bars.quote_volume.reshape(shape).sum(axis=3),
    )
