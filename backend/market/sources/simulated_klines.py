"""The simulated market's klines: Decimal bars made from the price process's arrays, each made once.

Bars come from ``BarModel.days(interval, first, last)``. A `Kline` is a function of the six floats
it is formatted from, so the Klines of a symbol's last request are kept with their floats: the
next request (the next refresh, the window a bar or a few further on) makes only the bars whose
floats it has not seen (new bars, or a window of other days whose sums rounded differently).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from backend.market.sources.simulated_bars import BarModel
from backend.market.sources.simulated_universe import DAY, EPOCH
from backend.market.types import Kline


@dataclass(frozen=True, slots=True)
class _Window:
    """A symbol's last request: the bars' open times, their six floats (6 x m) and what was made
    of each (None: no bar, a NaN or a time before the listing), for the ``listed`` it was made for."""

    stamps: np.ndarray
    floats: np.ndarray
    bars: list[Kline | None]
    listed: float


class KlineWindows:
    """Klines of one symbol and interval between two times, from a BarModel, with the cache above."""

    def __init__(self, bars: BarModel) -> None:
        self._bars = bars
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], _Window] = {}  # (symbol, interval) -> its last request

    def between(
        self,
        row: int,
        symbol: str,
        interval: str,
        start: datetime,
        end: datetime,
        *,
        step: int,
        listed: float,
        price_dp: int,
        qty_dp: int,
    ) -> list[Kline]:
        """Bars with ``start <= open_time <= end`` (both already within the closed bars), none
        before ``listed`` (epoch seconds; EPOCH's: listed from the start)."""
        first = int((start - EPOCH).total_seconds()) // DAY
        last = int((end - EPOCH).total_seconds()) // DAY
        times, o, h, lo, c, v, qv = self._bars.days(interval, first, last)
        j0 = int(np.searchsorted(times, start.timestamp(), side="left"))
        j1 = int(np.searchsorted(times, end.timestamp(), side="right"))
        key = (symbol, interval)
        stamps = times[j0:j1]
        floats = np.stack([a[row, j0:j1] for a in (o, h, lo, c, v, qv)])
        with self._lock:
            prev = self._last.get(key)
        reused: list[Kline | None] = []
        if prev is not None and prev.listed == listed and stamps.size:
            # the window slid forward: its first bars are the last request's, same floats
            k0 = int(np.searchsorted(prev.stamps, stamps[0]))
            n = min(prev.stamps.size - k0, stamps.size)
            if (
                n > 0
                and np.array_equal(prev.stamps[k0 : k0 + n], stamps[:n])
                and np.array_equal(prev.floats[:, k0 : k0 + n], floats[:, :n], equal_nan=True)
            ):
                reused = prev.bars[k0 : k0 + n]
        # after a reused overlap the rest is newer than every bar of the last request: nothing to look up
        older = None if reused else prev
        made = reused + self._make(
            symbol, interval, stamps[len(reused) :], floats[:, len(reused) :], older, step, listed, price_dp, qty_dp
        )
        with self._lock:
            self._last[key] = _Window(stamps, floats, made, listed)
        return [bar for bar in made if bar is not None]

    @staticmethod
    def _make(
        symbol: str,
        interval: str,
        stamps: np.ndarray,
        floats: np.ndarray,
        prev: _Window | None,
        step: int,
        listed: float,
        price_dp: int,
        qty_dp: int,
    ) -> list[Kline | None]:
        """The Kline of each bar (None: none), reusing a bar of ``prev`` with the same time and
        floats (a window of other days can round some floats differently: those are made again)."""
        seen: dict[float, int] = {}
        if prev is not None and prev.listed == listed:
            seen = {t: i for i, t in enumerate(prev.stamps.tolist())}
        price, qty = f".{price_dp}f", f".{qty_dp}f"  # format(x, ".Nf") is _fmt(x, N)
        last_ms = timedelta(seconds=step) - timedelta(milliseconds=1)
        skip_before = listed if listed > EPOCH.timestamp() else None
        out: list[Kline | None] = []
        for t, *values in zip(stamps.tolist(), *floats.tolist(), strict=True):
            if skip_before is not None and t < skip_before:
                out.append(None)  # not listed yet (NaN in the arrays history_arrays gives)
                continue
            i = seen.get(t)
            if i is not None and prev is not None and prev.floats[:, i].tolist() == values:
                out.append(prev.bars[i])
                continue
            open_, high, low, close, volume, quote = values
            if close != close:  # NaN: no bar
                out.append(None)
                continue
            opened = datetime.fromtimestamp(t, UTC)
            out.append(
                Kline(
                    symbol=symbol,
                    interval=interval,
                    open_time=opened,
                    close_time=opened + last_ms,
                    open=_dec(open_, price),
                    high=_dec(high, price),
                    low=_dec(low, price),
                    close=_dec(close, price),
                    volume=_dec(volume, qty),
                    quote_volume=_dec(quote, ".4f"),
                    trade_count=int(quote / 400) + 1,
                )
            )
        return out

    def clear(self) -> None:
        with self._lock:
            self._last.clear()


def _dec(value: float, spec: str) -> Decimal:
    return Decimal(format(value, spec))
