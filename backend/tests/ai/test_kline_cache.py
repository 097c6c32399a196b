"""The wide Bars kept across refreshes: slid on only when every symbol slid alike, else rebuilt."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from ai_engine.features import Bars
from ai_engine.kline_cache import KlineArrays, _convert, bars_from_arrays
from backend.market.types import Kline
from backend.tests.ai.factories import klines_of, random_walk_bars

LONG = klines_of(random_walk_bars(n_symbols=6, n_bars=300, seed=8))


def _expected(klines: dict[str, list[Kline]]) -> Bars:
    return bars_from_arrays({s: _convert(ks) for s, ks in klines.items()}, "1h")


def _assert_same(got: Bars, expected: Bars) -> None:
    assert got.symbols == expected.symbols
    assert got.times.equals(expected.times)
    assert got.times.dtype == expected.times.dtype
    for name in ("open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), strict=True)


def _window(lo: int, hi: int, source: dict[str, list[Kline]] = LONG) -> dict[str, list[Kline]]:
    return {s: ks[lo:hi] for s, ks in source.items()}


def test_windows_slid_alike_are_the_kept_bars_slid_on_without_converting_each_symbol(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = KlineArrays()
    per_symbol: list[str] = []
    real = cache.arrays
    monkeypatch.setattr(cache, "arrays", lambda s, ks: per_symbol.append(s) or real(s, ks))
    _assert_same(cache.bars(_window(0, 200), "1h"), _expected(_window(0, 200)))
    assert len(per_symbol) == 6
    for lo, hi in ((4, 204), (8, 208), (8, 208), (9, 209), (30, 230), (31, 300)):
        per_symbol.clear()
        _assert_same(cache.bars(_window(lo, hi), "1h"), _expected(_window(lo, hi)))
        assert per_symbol == [], (lo, hi)  # the kept rows plus the new bars, no per-symbol work


def test_a_last_bar_still_forming_is_converted_again() -> None:
    cache = KlineArrays()
    cache.bars(_window(0, 200), "1h")
    forming = {s: [*ks[1:200], dataclasses.replace(ks[200], close=Decimal("123.5"))] for s, ks in LONG.items()}
    _assert_same(cache.bars(forming, "1h"), _expected(forming))
    _assert_same(cache.bars(_window(2, 201), "1h"), _expected(_window(2, 201)))  # ... and closed later


@pytest.mark.parametrize("change", ["symbols", "gap", "other_start", "jump", "interval"])
def test_windows_not_slid_alike_are_built_again(change: str) -> None:
    cache = KlineArrays()
    cache.bars(_window(0, 200), "1h")
    new = _window(4, 204)
    interval = "1h"
    if change == "symbols":
        new.pop("S000USDT")
    elif change == "gap":
        new["S001USDT"] = new["S001USDT"][:50] + new["S001USDT"][51:]
    elif change == "other_start":
        new["S002USDT"] = LONG["S002USDT"][5:204]
    elif change == "jump":
        new = _window(250, 300)
    else:
        interval = "4h"
    expected = bars_from_arrays({s: _convert(ks) for s, ks in new.items()}, interval)
    _assert_same(cache.bars(new, interval), expected)
    # and the next slide (from whatever was kept) is still exact
    _assert_same(cache.bars(_window(6, 206), "1h"), _expected(_window(6, 206)))


def test_no_symbols_give_empty_bars() -> None:
    bars = KlineArrays().bars({}, "1h")
    assert bars.symbols == ()
    assert len(bars.times) == 0


def test_bar_times_are_what_pandas_makes_of_the_milliseconds() -> None:
    from ai_engine.kline_cache import _times

    stamps = np.array([0.0, 1.5e9, 1.7e9 + 0.0015, 1.7e9 + 3599.999, 4.1e9])
    expected = pd.to_datetime(np.round(stamps * 1000).astype(np.int64), unit="ms", utc=True).as_unit("ns")
    got = _times(stamps)
    assert got.equals(expected)
    assert got.dtype == expected.dtype
