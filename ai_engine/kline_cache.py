"""Klines as float arrays where the model reads them, converted once: a refresh converts only the
bars it has not seen (usually the newest one), not every Decimal of every symbol's window again.

The market service hands out lists of Decimal klines; the features need float arrays. Closed bars
never change, so each symbol's arrays are kept with their open times, and a new list that holds
the same closed bars (the same window, or the window slid forward by new bars) reuses them; the
last bar, which may still be forming, is always converted afresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ai_engine.features import Bars
from backend.market.types import Kline


def _convert(ks: Sequence[Kline]) -> tuple[np.ndarray, np.ndarray]:
    stamps = np.fromiter((k.open_time.timestamp() for k in ks), dtype=np.float64, count=len(ks))
    values = np.array([(k.open, k.high, k.low, k.close, k.volume) for k in ks], dtype=np.float64).reshape(len(ks), 5)
    return stamps, values


class KlineArrays:
    """Per-symbol float arrays of the klines last seen, reused across calls."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def arrays(self, symbol: str, ks: Sequence[Kline]) -> tuple[np.ndarray, np.ndarray]:
        """(open times in epoch seconds, T x 5 OHLCV) of ``ks``, which must be in time order."""
        n = len(ks)
        cached = self._cache.get(symbol)
        if cached is not None and n >= 2:
            stamps, values = cached
            first = ks[0].open_time.timestamp()
            i = int(np.searchsorted(stamps, first))
            # bars ks[0 .. m-1] are cached bars i .. i+m-1 when both ends match: closed bars both
            # times (not the cached last bar nor ks' last, either may have been forming), so a
            # window slid forward by any number of bars converts only the bars it has not seen
            m = min(len(stamps) - 1 - i, n - 1)
            if m > 0 and stamps[i] == first and stamps[i + m - 1] == ks[m - 1].open_time.timestamp():
                new_stamps, new_values = _convert(ks[m:])
                out = (
                    np.concatenate([stamps[i : i + m], new_stamps]),
                    np.vstack([values[i : i + m], new_values]),
                )
                self._cache[symbol] = out
                return out
        out = _convert(ks)
        order = np.argsort(out[0], kind="stable")
        out = (out[0][order], out[1][order])
        self._cache[symbol] = out
        return out

    def forget(self, keep: set[str]) -> None:
        """Drop the symbols no longer scored (the universe changed)."""
        for symbol in list(self._cache):
            if symbol not in keep:
                del self._cache[symbol]


def bars_from_arrays(per_symbol: Mapping[str, tuple[np.ndarray, np.ndarray]], interval: str) -> Bars:
    """Wide Bars from per-symbol (stamps, OHLCV) arrays, aligned on the union of their times."""
    symbols = tuple(sorted(per_symbol))
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
    columns = [np.ascontiguousarray(cube[:, :, k]) for k in range(5)]
    return Bars(interval, times, symbols, *columns)
