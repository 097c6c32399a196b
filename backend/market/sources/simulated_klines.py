"""The simulated market's klines: Decimal bars made from the price process's arrays, each made once.

Bars come from ``BarModel.days(interval, first, last)``. A refresh asks for every symbol's window
at the same moment, so the window's times and the six floats of every symbol are sliced from those
arrays once per moment (one ``_Moment``), not once per symbol.

A `Kline` is a function of the six floats it is formatted from, so the Klines of a symbol's last
request are kept with their floats: the next request (the next refresh, the window a bar or a few
further on) makes only the bars it has no Kline for. A bar of the last request is reused when its
floats are the same, or when they differ by a rounding (a window over other days sums the bars'
returns from another start, so a bar's floats can differ in the last bits) that cannot change the
decimal text they are formatted to; see ``same_text``. Only new bars, and the rare bar whose text
could change, are formatted again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

import numpy as np

from backend.market.sources.simulated_bars import BarModel
from backend.market.sources.simulated_universe import DAY, EPOCH
from backend.market.types import Kline

# Decimals of the quote volume (the other fields use the symbol's tick and step decimals).
_QUOTE_DP = 4
# x * 10**dp is within |x * 10**dp| * 2**-53 of the exact product; this much margin is trusted.
_RELATIVE_ERROR = 2.0**-50
# Above this a scaled float no longer resolves its fraction finely enough to be trusted.
_LARGEST_SCALED = 2.0**50


@dataclass(frozen=True, slots=True)
class _Moment:
    """One window of every symbol: the bars' open times (m) and six floats (6 x symbols x m), and
    how it continues the moment sliced before it (by serial number, not a link, so the moments do
    not chain): that moment's bars from ``shift`` on are this one's first bars, with the same floats
    in the symbols where ``exact`` is True, or floats of the same text with the decimals their last
    request used where ``loose`` is True (None: no such overlap)."""

    key: tuple[str, datetime, datetime]
    days: tuple[int, int]  # the days [first, last] its bars were sliced from
    stamps: np.ndarray
    floats: np.ndarray
    serial: int
    follows: int
    shift: int
    exact: np.ndarray | None
    loose: np.ndarray | None
    decimals: dict[int, tuple[int, int]]

    def continues(self, row: int, decimals: tuple[int, int]) -> bool:
        """Whether symbol ``row``'s Klines of the moment before are this one's first Klines."""
        if self.exact is None:
            return False
        if self.exact[row]:
            return True
        return self.loose is not None and bool(self.loose[row]) and self.decimals.get(row) == decimals


@dataclass(frozen=True, slots=True)
class _Window:
    """A symbol's last request: the bars' open times, their six floats (6 x m) and what was made
    of each (None: no bar, a NaN or a time before the listing), for the ``listed`` and decimals it
    was made for."""

    stamps: np.ndarray
    floats: np.ndarray
    bars: list[Kline | None]
    listed: float
    decimals: tuple[int, int]
    moment: int  # the serial of the moment it was sliced from
    gapless: bool  # no None among ``bars``


class KlineWindows:
    """Klines of one symbol and interval between two times, from a BarModel, with the caches above."""

    def __init__(self, bars: BarModel) -> None:
        self._bars = bars
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], _Window] = {}  # (symbol, interval) -> its last request
        self._moment: _Moment | None = None  # the newest window sliced for every symbol
        self._decimals: dict[int, tuple[int, int]] = {}  # row -> the (price, qty) decimals it was last asked with
        self._serial = 0

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
        decimals = (price_dp, qty_dp)
        with self._lock:
            self._decimals[row] = decimals
        moment = self.moment(interval, start, end)
        stamps, floats = moment.stamps, moment.floats[:, row]
        key = (symbol, interval)
        with self._lock:
            prev = self._last.get(key)
        if prev is not None and (prev.listed != listed or prev.decimals != decimals):
            prev = None
        if prev is not None and prev.moment == moment.follows and moment.continues(row, decimals):
            # the usual refresh: the window slid on from the last moment, the overlap's bars unchanged
            kept = prev.bars[moment.shift :]
            new = _make(
                symbol, interval, stamps[len(kept) :], floats[:, len(kept) :], None, None, step, listed, decimals
            )
            made = kept + new
            gapless = prev.gapless and all(bar is not None for bar in new)
        else:
            reuse = None if prev is None else reusable(prev.stamps, prev.floats, stamps, floats, decimals)
            made = _make(symbol, interval, stamps, floats, prev, reuse, step, listed, decimals)
            gapless = False
        out = cast("list[Kline]", list(made)) if gapless else [bar for bar in made if bar is not None]
        with self._lock:
            self._last[key] = _Window(stamps, floats, made, listed, decimals, moment.serial, len(out) == len(made))
        return out

    def moment(self, interval: str, start: datetime, end: datetime) -> _Moment:
        """The bars' open times and every symbol's six floats for ``start <= open_time <= end``:
        sliced once, the next symbol's request at the same moment reads the same arrays."""
        key = (interval, start, end)
        with self._lock:
            moment = self._moment
        if moment is not None and moment.key == key:
            return moment
        first = int((start - EPOCH).total_seconds()) // DAY
        last = int((end - EPOCH).total_seconds()) // DAY
        times, *arrays = self._bars.days(interval, first, last)
        j0 = int(np.searchsorted(times, start.timestamp(), side="left"))
        j1 = int(np.searchsorted(times, end.timestamp(), side="right"))
        floats = np.stack([a[:, j0:j1] for a in arrays])  # o, h, l, c, v, qv
        floats.flags.writeable = False
        stamps = times[j0:j1]
        with self._lock:  # compared with the moment in force now, under the lock: serials are unique
            before = self._moment
            decimals = dict(self._decimals)
            shift, exact, loose = _overlap(before, interval, (first, last), stamps, floats, decimals)
            self._serial += 1
            follows = -1 if before is None else before.serial
            moment = self._moment = _Moment(
                key, (first, last), stamps, floats, self._serial, follows, shift, exact, loose, decimals
            )
        return moment

    def clear(self) -> None:
        with self._lock:
            self._last.clear()
            self._moment = None
            self._decimals.clear()


def _overlap(
    before: _Moment | None,
    interval: str,
    days: tuple[int, int],
    stamps: np.ndarray,
    floats: np.ndarray,
    decimals: dict[int, tuple[int, int]],
) -> tuple[int, np.ndarray | None, np.ndarray | None]:
    """Where ``before``'s bars continue as the first of these (-1: they do not), and per symbol
    whether all their floats are the same there, or else all of the same text with the symbol's
    ``decimals`` (each one comparison for every symbol at once). Sliced from the same days, they
    are the same floats (a window of days is always generated alike): nothing to compare."""
    if before is None or before.key[0] != interval or not stamps.size or before.floats.shape[1] != floats.shape[1]:
        return -1, None, None
    shift = int(np.searchsorted(before.stamps, stamps[0]))
    n = before.stamps.size - shift
    if n <= 0 or n > stamps.size or not np.array_equal(before.stamps[shift:], stamps[:n]):
        return -1, None, None
    if before.days == days:
        return shift, np.ones(floats.shape[1], dtype=bool), None
    old, new = before.floats[:, :, shift:], floats[:, :, :n]
    bars_same = ((old == new) | (np.isnan(old) & np.isnan(new))).all(axis=0)  # symbols x n
    exact = bars_same.all(axis=1)
    rows = [r for r in np.flatnonzero(~exact).tolist() if r in decimals]
    if not rows:
        return shift, exact, None
    # a window over other days: the floats differ in their last bits, the text mostly not
    scale = np.stack([_scale(decimals[r]) for r in rows], axis=1)[:, :, None]  # 6 x rows x 1
    text = _text_same(old[:, rows], new[:, rows], scale)
    loose = np.zeros_like(exact)
    loose[rows] = (bars_same[rows] | text).all(axis=1)
    return shift, exact, loose


def reusable(
    old_stamps: np.ndarray,
    old_floats: np.ndarray,
    stamps: np.ndarray,
    floats: np.ndarray,
    decimals: tuple[int, int],
) -> np.ndarray:
    """For each bar (``stamps``, 6 x m ``floats``), the index of the old bar whose Kline it would be
    made into (the same time, floats the same or the same text), or -1."""
    if not stamps.size or not old_stamps.size:
        return np.full(stamps.size, -1)
    at = np.minimum(np.searchsorted(old_stamps, stamps), old_stamps.size - 1)
    old = old_floats[:, at]
    hit = old_stamps[at] == stamps
    same = hit & ((old == floats) | (np.isnan(old) & np.isnan(floats))).all(axis=0)
    loose = np.flatnonzero(hit & ~same)
    if loose.size:  # floats of another rounding: the same bar when they format to the same text
        same[loose] = same_text(old[:, loose], floats[:, loose], decimals)
    return np.where(same, at, -1)


def same_text(a: np.ndarray, b: np.ndarray, decimals: tuple[int, int]) -> np.ndarray:
    """Per column of two 6 x k float arrays (o, h, l, c, v, qv), whether both make the same Kline:
    every field formats to the same decimal text and the trade counts agree.

    ``format(x, ".Nf")`` is the exact binary value of x rounded to N decimals, that is the integer
    nearest x * 10**N. The float product is within ``_RELATIVE_ERROR`` of the exact one, so when it
    lies farther than that from a half-integer the nearest integer is the float product's nearest
    one. Two positive floats with the same such integer have the same text. Values near a tie,
    too large to resolve, or not positive are reported as different (they are simply made again)."""
    return _text_same(a, b, _scale(decimals)[:, None])


def _scale(decimals: tuple[int, int]) -> np.ndarray:
    """10**N of each field (o, h, l, c, v, qv) for (price, qty) decimals, each exact."""
    price_dp, qty_dp = decimals
    return np.array([float(10**dp) for dp in (price_dp,) * 4 + (qty_dp, _QUOTE_DP)])


def _text_same(a: np.ndarray, b: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``same_text`` of 6 x ... arrays with ``scale`` (6 x ..., broadcast): over the first axis."""
    sa, sb = a * scale, b * scale
    ka, kb = np.rint(sa), np.rint(sb)
    with np.errstate(invalid="ignore"):
        clear_a = (np.abs(sa - ka) < 0.5 - sa * _RELATIVE_ERROR) & (a > 0) & (sa < _LARGEST_SCALED)
        clear_b = (np.abs(sb - kb) < 0.5 - sb * _RELATIVE_ERROR) & (b > 0) & (sb < _LARGEST_SCALED)
        fields = (ka == kb) & clear_a & clear_b
        trades = np.floor(a[5] / 400) == np.floor(b[5] / 400)  # int(quote / 400) of positive quotes
    return fields.all(axis=0) & trades


def _make(
    symbol: str,
    interval: str,
    stamps: np.ndarray,
    floats: np.ndarray,
    prev: _Window | None,
    reuse: np.ndarray | None,
    step: int,
    listed: float,
    decimals: tuple[int, int],
) -> list[Kline | None]:
    """The Kline of each bar (None: none): the bar of ``prev`` that ``reuse`` names, else made."""
    skip_before = listed if listed > EPOCH.timestamp() else None
    out: list[Kline | None]
    if reuse is not None:
        out = [prev.bars[i] if i >= 0 else None for i in reuse.tolist()] if prev is not None else []
        todo: Sequence[int] = np.flatnonzero(reuse < 0).tolist()
        times, rows = stamps[todo].tolist(), floats[:, todo].T.tolist()
    else:  # every bar (the new bars of a slid window): no index arrays
        out = [None] * stamps.size
        todo = range(stamps.size)
        times, rows = stamps.tolist(), floats.T.tolist()
    if not todo:
        return out
    price, qty = f".{decimals[0]}f", f".{decimals[1]}f"  # format(x, ".Nf") is _fmt(x, N)
    last_ms = timedelta(seconds=step) - timedelta(milliseconds=1)
    for j, t, values in zip(todo, times, rows, strict=True):
        if skip_before is not None and t < skip_before:
            continue  # not listed yet (NaN in the arrays history_arrays gives)
        open_, high, low, close, volume, quote = values
        if close != close:  # NaN: no bar
            continue
        opened = datetime.fromtimestamp(t, UTC)
        out[j] = Kline(
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
    return out


def _dec(value: float, spec: str) -> Decimal:
    return Decimal(format(value, spec))
