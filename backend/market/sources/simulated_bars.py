"""The simulated market's price process: the daily backbone and the intraday bars of every symbol.

- Days are the backbone. From EPOCH (2024-01-01 UTC) each symbol's daily log return is
  ``beta * F_d + s * exp(h_d) * z_d``: a common market factor ``F_d`` (itself with stochastic
  volatility) plus idiosyncratic noise; ``h_d`` is an AR(1) log-volatility (volatility clustering)
  and ``z_d`` Student-t with 5 degrees of freedom scaled to unit variance (fat tails).
- Inside a day there is one price path per symbol (backend/market/sources/simulated_paths.py): the
  hours are drawn with the same factor structure and an intraday AR(1) volatility and bridged to
  the day's return, the minutes bridged to their hour's return and kept inside its bar; every
  other interval aggregates one of the two. Every interval agrees on every bar boundary, and a bar
  never changes once generated.
- Volume rises with the absolute return of the bar.
- Random streams are keyed by (seed, path, day), so any window gives the same bars.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from backend.market.source import interval_seconds
from backend.market.sources.simulated_paths import (
    FACTOR_DAILY_VOL,
    T_DF,
    T_SCALE,
    VOL_SD,
    Universe,
    aggregate,
    ar1,
    path,
)
from backend.market.sources.simulated_universe import DAY, SimSymbol

_DAILY_BLOCK = 256  # days per random block of the daily backbone
_VOL_PHI = 0.97  # daily log-volatility persistence (its stationary sd: simulated_paths.VOL_SD)

_MINUTE_STREAM, _HOUR_STREAM = 1, 6  # the keys of the two paths' random streams (their codes since the start)
_DAY_CACHE = 16  # days of bars kept per model and interval
_DAY_BATCH = 8  # days of 1m .. 30m bars generated together when one is missing
_WINDOW_CACHE_VALUES = 2_000_000  # the largest multi-day window kept (values per array, ~16 MB)


@dataclass(frozen=True, slots=True)
class BarArrays:
    """Bars of many symbols as arrays of shape (symbols, bars); times in epoch seconds."""

    symbols: tuple[str, ...]
    interval: str
    open_time: np.ndarray  # (bars,) int64 seconds
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # base asset
    quote_volume: np.ndarray


@dataclass(frozen=True, slots=True)
class _Batch:
    """Consecutive days of bars generated together, each field one read-only (n, days x bars) array,
    so a window of days inside it is a view; ``nan_free``: no NaN in any of them (checked where they
    are made, in the background thread when made ahead)."""

    first: int  # its first day
    per_day: int
    times: np.ndarray
    arrays: tuple[np.ndarray, ...]  # o, h, l, c, vol, qvol
    nan_free: bool

    @classmethod
    def of(cls, first: int, per_day: int, times: np.ndarray, arrays: tuple[np.ndarray, ...]) -> _Batch:
        for a in (times, *arrays):
            a.flags.writeable = False
        return cls(first, per_day, times, arrays, not any(np.isnan(a).any() for a in arrays))

    def columns(self, first: int, last: int) -> tuple[np.ndarray, ...]:
        """Days [first, last] of it: (open_time, o, h, l, c, vol, qvol), views."""
        lo, hi = (first - self.first) * self.per_day, (last + 1 - self.first) * self.per_day
        return (self.times[lo:hi], *(a[:, lo:hi] for a in self.arrays))


class BarModel:
    """Bars of every symbol of a universe for a seed: generated on demand, cached per day, the same
    for any window. Thread-safe: callers run in worker threads (MarketService, the local Binance
    server); the backbone and the day cache grow under ``lock``.

    With ``ahead`` (a backtest: a clock that only moves forward), generating a batch of days of
    1m .. 30m bars also starts the next batch in a background thread, so the next day's bars are
    ready when the clock reaches it: the same arrays, made on the second core while the trading
    path runs on the first. numpy releases the GIL in the draws and the array arithmetic: py-spy
    ``--gil`` finds this thread holding it in about 1 % of a simulated year's samples, and the
    trading thread never waited for a batch (a helper process was measured slower: see
    docs/backtest.md)."""

    def __init__(self, seed: int, symbols: tuple[SimSymbol, ...], *, ahead: bool = False) -> None:
        self.seed = seed
        n = len(symbols)
        self._beta = np.array([s.beta for s in symbols])
        self._idio = np.array([s.idio_vol for s in symbols])
        self._log_p0 = np.log(np.array([s.price for s in symbols]))
        self._universe = Universe(seed, self._beta, self._idio, np.array([s.quote_volume for s in symbols]))
        self._n = n
        # the daily backbone, grown block by block: returns (days, n) and cumulative log closes
        self._daily_ret = np.zeros((0, n))
        self._daily_logvol = np.zeros((0, n))
        self._daily_state: tuple[np.ndarray, np.ndarray] | None = None
        self._day_cache: OrderedDict[tuple[str, int], _Batch] = OrderedDict()  # (interval, day) -> its batch
        self._window_cache: dict[tuple[str, int, int], tuple[np.ndarray, ...]] = {}  # the last window of days()
        self.lock = threading.RLock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sim-bars") if ahead else None
        self._ahead: dict[tuple[str, int], Future[_Batch]] = {}  # (interval, first day)

    def clear(self) -> None:
        with self.lock:
            self._day_cache.clear()
            self._window_cache = {}
            for pending in self._ahead.values():
                pending.cancel()
            self._ahead.clear()

    # ------------------------------------------------------------------------------ daily backbone
    def _ensure_days(self, days: int) -> None:
        """Generate the daily backbone up to (excluding) day index ``days``, block by block."""
        if self._daily_ret.shape[0] >= days:
            return
        with self.lock:
            self._grow_days(days)

    def _grow_days(self, days: int) -> None:
        while self._daily_ret.shape[0] < days:
            block = self._daily_ret.shape[0] // _DAILY_BLOCK
            rng = np.random.default_rng([self.seed, 0xDA11, block])
            m = _DAILY_BLOCK
            eta = rng.standard_normal((self._n + 1, m)) * (VOL_SD * math.sqrt(1 - _VOL_PHI**2))
            z = rng.standard_t(T_DF, size=(self._n + 1, m)) * T_SCALE
            if self._daily_state is None:
                zi = rng.standard_normal((self._n + 1, 1)) * VOL_SD * _VOL_PHI
            else:
                zi = self._daily_state[0]
            h, zf = ar1(eta, _VOL_PHI, zi)
            self._daily_state = (zf, np.zeros(1))
            factor = FACTOR_DAILY_VOL * np.exp(h[0] - VOL_SD**2 / 2) * z[0]
            idio = self._idio[:, None] * np.exp(h[1:] - VOL_SD**2 / 2) * z[1:]
            ret = self._beta[:, None] * factor[None, :] + idio
            # volatility first: readers check the length of the returns, so both are ready by then
            self._daily_logvol = np.concatenate([self._daily_logvol, h[1:].T])
            self._daily_ret = np.concatenate([self._daily_ret, ret.T])

    def _log_close_before(self, day: int) -> np.ndarray:
        """Log close of every symbol at the start of ``day`` (n,)."""
        self._ensure_days(day + 1)
        return self._log_p0 + self._daily_ret[:day].sum(axis=0)

    # ------------------------------------------------------------------------------ intraday bars
    def days(self, interval: str, first: int, last: int) -> tuple[np.ndarray, ...]:
        """Bars of days [first, last] for every symbol: (open_time, o, h, l, c, vol, qvol), shapes (n, bars).

        Read-only arrays: a window asked for again (every symbol's klines at one moment) is not
        generated again; one or two days of the same batch are views of it."""
        if last - first <= 1:
            head, tail = self._one_day(interval, first), self._one_day(interval, last)
            if head is tail:  # days of one batch: views, nothing copied
                return head.columns(first, last)
            parts = [head.columns(first, first), tail.columns(last, last)]
            joined = tuple(np.concatenate(items, axis=-1) for items in zip(*parts, strict=True))
            for a in joined:
                a.flags.writeable = False
            return joined
        key = (interval, first, last)
        with self.lock:
            cached = self._window_cache.get(key)
            if cached is None:
                cached = self._generate(interval, first, last)[0]
                for a in cached:
                    a.flags.writeable = False
                if cached[0].size * self._n <= _WINDOW_CACHE_VALUES:  # windows of training size are not kept
                    self._window_cache = {key: cached}
            return cached

    def nan_free(self, interval: str, first: int, last: int) -> bool:
        """Whether ``days(interval, first, last)`` (at most two days) holds no NaN, without scanning it."""
        return self._one_day(interval, first).nan_free and self._one_day(interval, last).nan_free

    def _one_day(self, interval: str, day: int) -> _Batch:
        """The batch holding ``day`` (generated with the days after it when missing)."""
        key = (interval, day)
        with self.lock:
            cached = self._day_cache.get(key)
            if cached is not None:
                self._day_cache.move_to_end(key)
                return cached
            pending = self._ahead.pop(key, None)
            if pending is None:
                # the next days too, in one vectorised pass: a moving clock asks for them next
                days = _DAY_BATCH if DAY // interval_seconds(interval) > 24 else 1
                return self._keep(interval, self._batch(interval, day, day + days - 1))
        made = pending.result()  # generated ahead: wait outside the lock (the worker needs none)
        with self.lock:
            return self._keep(interval, made)

    def _batch(self, interval: str, first: int, last: int) -> _Batch:
        # (n, days x bars): each day's columns are the arrays of that day generated alone
        times, *arrays = self._generate(interval, first, last, separate=True)[0]
        return _Batch.of(first, times.size // (last - first + 1), times, tuple(arrays))

    def _keep(self, interval: str, made: _Batch) -> _Batch:
        """Cache the days of ``made`` (under ``lock``); with ``ahead``, start the next batch."""
        count = made.times.size // made.per_day
        for day in range(made.first, made.first + count):
            self._day_cache[(interval, day)] = made
            self._day_cache.move_to_end((interval, day))
        # per interval: a sub-hour run reads minutes and, at whole hours, hours (one never evicts the other)
        same = [key for key in self._day_cache if key[0] == interval]  # least recently used first
        for stale in same[: max(0, len(same) - _DAY_CACHE)]:
            del self._day_cache[stale]
        if self._pool is not None and count > 1:
            following = made.first + count
            for stale in [k for k in self._ahead if k[0] == interval and k[1] != following]:
                self._ahead.pop(stale).cancel()  # the clock went elsewhere
            if (interval, following) not in self._ahead:
                self._ensure_days(following + count)  # the backbone first: the worker only reads it
                self._ahead[(interval, following)] = self._pool.submit(
                    self._batch, interval, following, following + count - 1
                )
        return made

    def _generate(
        self, interval: str, first: int, last: int, *, separate: bool = False
    ) -> list[tuple[np.ndarray, ...]]:
        """Bars of days [first, last]: one tuple (open_time, o, h, l, c, vol, qvol), arrays (n, bars).
        With ``separate`` each day's columns are exactly what generating that day alone gives (its
        own start level, same operations); without, the days run on from the first day's level."""
        step = interval_seconds(interval)
        self._ensure_days(last + 1)
        daily_ret = self._daily_ret[first : last + 1]  # (D, n)
        if separate:  # each day from its own start level, as when generated alone (+ 0.0 included)
            day_starts = np.stack([self._log_close_before(d) + 0.0 for d in range(first, last + 1)])
        else:
            start_log = self._log_close_before(first)  # (n,)
            head = np.concatenate([np.zeros((1, self._n)), np.cumsum(daily_ret, axis=0)[:-1]])
            day_starts = start_log[None, :] + head
        daily = (daily_ret, self._daily_logvol[first : last + 1], day_starts)
        hours = path(self._universe, _HOUR_STREAM, first, 24, daily)
        if step >= 3600:
            bars = hours if step == 3600 else aggregate(hours, step // 3600)
        else:
            minutes = path(self._universe, _MINUTE_STREAM, first, DAY // 60, daily, hours)
            bars = minutes if step == 60 else aggregate(minutes, step // 60)
        return [bars.flat()]  # (D, n, k) -> (n, D x k), one copy

    # ------------------------------------------------------------------------------ public arrays
