"""The simulated market's klines: Decimal bars made from the price process's arrays, each made once.

Bars come from ``BarModel.days(interval, first, last)``. A `Kline` is a function of the six floats
it is formatted from, so the Klines of a symbol's last request are kept with their floats: the
next request (the next refresh, the window a bar or a few further on) makes only the bars whose
floats it has not seen (new bars, or a window of other days whose sums rounded differently).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np

from backend.market.sources.simulated_bars import BarModel
from backend.market.sources.simulated_universe import DAY, EPOCH
from backend.market.types import Kline


class KlineWindows:
    """Klines of one symbol and interval between two times, from a BarModel, with the cache above."""

    def __init__(self, bars: BarModel) -> None:
        self._bars = bars
        self._lock = threading.Lock()
        # (symbol, interval) -> open time -> (the floats, the Kline made of them), of the last request
        self._made: dict[tuple[str, str], dict[int, tuple[tuple[float, ...], Kline]]] = {}

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
        with self._lock:
            seen = self._made.get(key, {})
        made: dict[int, tuple[tuple[float, ...], Kline]] = {}
        price, qty = f".{price_dp}f", f".{qty_dp}f"  # format(x, ".Nf") is _fmt(x, N)
        last_ms = timedelta(seconds=step) - timedelta(milliseconds=1)
        stamps = times[j0:j1].tolist()
        columns = [a[row, j0:j1].tolist() for a in (o, h, lo, c, v, qv)]
        skip_before = listed if listed > EPOCH.timestamp() else None
        out: list[Kline] = []
        for t, *values in zip(stamps, *columns, strict=True):
            if skip_before is not None and t < skip_before:
                continue  # not listed yet (NaN in the arrays history_arrays gives)
            floats = tuple(values)
            known = seen.get(t)
            if known is not None and known[0] == floats:
                bar = known[1]
            else:
                open_, high, low, close, volume, quote = floats
                if close != close:  # NaN: no bar
                    continue
                opened = datetime.fromtimestamp(t, UTC)
                bar = Kline(
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
            made[t] = (floats, bar)
            out.append(bar)
        with self._lock:
            self._made[key] = made
        return out

    def clear(self) -> None:
        with self._lock:
            self._made.clear()


def _dec(value: float, spec: str) -> Decimal:
    return Decimal(format(value, spec))
